//! The stock level and low-stock read models.

mod support;

use cqrs_core::{EventStore, Projection, ProjectionRunner};
use inventory::views::StockLevelProjection;
use inventory::InventorySystem;
use support::*;

#[tokio::test]
async fn the_view_shows_on_hand_reserved_and_available_per_sku() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    stocked(app, "pen", 10).await;
    stocked(app, "mug", 0).await;
    app.reserve("pen", "o1", 4).await.expect("reserve");
    system.settle().await.expect("settle");
    let pen = system.stock.get("pen").expect("pen");
    assert_eq!(
        (pen.name.as_str(), pen.on_hand, pen.reserved, pen.available),
        ("pen name", 10, 4, 6)
    );
    assert_eq!(system.stock.get("mug").expect("mug").available, 0);
    assert!(system.stock.get("ghost").is_none());
    system.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn low_stock_lists_products_under_the_threshold_fewest_first() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    for (sku, qty) in [("a", 5), ("b", 1), ("c", 0), ("d", 2)] {
        stocked(app, sku, qty).await;
    }
    app.reserve("a", "o1", 4).await.expect("reserve"); // a: 1 available
    system.settle().await.expect("settle");
    let skus = |threshold| -> Vec<String> {
        system
            .stock
            .low_stock(threshold)
            .into_iter()
            .map(|l| l.sku)
            .collect()
    };
    assert_eq!(skus(2), ["c", "a", "b"]);
    assert_eq!(skus(3), ["c", "a", "b", "d"]);
    assert!(skus(0).is_empty());
    system.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn redelivered_events_are_applied_once() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 10).await;
    let (mut projection, view) = StockLevelProjection::new();
    let events = store.read_all(1, 100).await.expect("read");
    for event in events.iter().chain(events.iter()) {
        projection.apply(event).await.expect("apply");
    }
    assert_eq!(view.get("pen").expect("pen").on_hand, 10);
}

#[tokio::test]
async fn a_rebuilt_view_is_identical_and_resumes_from_its_checkpoint() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    stocked(app, "pen", 3).await;
    stocked(app, "book", 1).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c", vec![line("pen", 2)])
        .await
        .expect("place");
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o2", "c", vec![line("pen", 2), line("book", 1)])
        .await
        .expect("place");
    system.settle().await.expect("settle");
    let before = system.stock.all();

    let (projection, rebuilt) = StockLevelProjection::new();
    let mut runner = ProjectionRunner::new(system.store().clone(), projection);
    runner.rebuild().await.expect("rebuild");
    let checkpoint = runner.catch_up().await.expect("catch up");
    assert_eq!(
        checkpoint,
        system.store().head_position().await.expect("head")
    );
    assert_eq!(rebuilt.all(), before);
    let stored = system
        .store()
        .load_checkpoint(StockLevelProjection::NAME)
        .await;
    assert_eq!(stored.expect("checkpoint"), Some(checkpoint));
    system.shutdown().await.expect("shutdown");
}
