//! Many orders for one sku at once: never oversold, exactly the refused orders cancelled.

mod support;

use std::sync::Arc;

use inventory::saga::SagaOutcome;
use inventory::InventorySystem;
use support::*;

const ORDERS: usize = 50;
const STOCK: u64 = 20;

fn order_ids() -> Vec<String> {
    (0..ORDERS).map(|i| format!("c-{i:02}")).collect()
}

/// End to end in embedded mode: 50 orders placed concurrently, the saga fed from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_orders_for_twenty_units_confirm_twenty_and_cancel_thirty() {
    let system = InventorySystem::embedded();
    stocked(&system.app, "hot", STOCK).await;
    let ids = order_ids();
    let placing: Vec<_> = ids
        .iter()
        .map(|id| {
            let app = system.app.clone();
            let id = id.clone();
            tokio::spawn(async move {
                app.hosted_orders()
                    .expect("embedded mode hosts orders")
                    .place_order(&id, "c", vec![line("hot", 1)])
                    .await
            })
        })
        .collect();
    for task in placing {
        task.await.expect("task").expect("placed");
    }
    system.settle().await.expect("settle");

    assert_exact_allocation(system.store(), &system.app, "hot", &ids, STOCK).await;
    let view = system.stock.get("hot").expect("in view");
    assert_eq!((view.on_hand, view.reserved, view.available), (20, 20, 0));
    system.shutdown().await.expect("shutdown");
}

/// The saga itself run concurrently (as several consumers would): 50 reservations race on
/// one product stream; optimistic concurrency lets exactly 20 through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_sagas_racing_on_one_sku_never_oversell() {
    let (store, app) = bare_app();
    stocked(&app, "hot", STOCK).await;
    let ids = order_ids();
    for id in &ids {
        app.hosted_orders()
            .expect("embedded mode hosts orders")
            .place_order(id, "c", vec![line("hot", 1)])
            .await
            .expect("placed");
    }
    let store = Arc::clone(&store);
    let mut racing = Vec::new();
    for id in &ids {
        let placed = order_placed(&store, id).await;
        let saga = app.saga();
        racing.push(tokio::spawn(async move { react(&saga, &placed).await }));
    }
    let (mut confirmed, mut rejected) = (0, 0);
    for task in racing {
        match task.await.expect("task").expect("saga") {
            SagaOutcome::Confirmed { .. } => confirmed += 1,
            SagaOutcome::Rejected { .. } => rejected += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((confirmed, rejected), (20, 30));
    assert_exact_allocation(&store, &app, "hot", &ids, STOCK).await;
}
