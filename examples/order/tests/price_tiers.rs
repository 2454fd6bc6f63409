//! The price-tier read model: tier boundaries, aggregation, cancellation, redelivery and
//! rebuilds, driven through the embedded system.

use std::sync::Arc;

use cqrs_core::{EventStore, InMemoryEventStore, Projection, ProjectionRunner};
use order::domain::{Cents, OrderCommand, OrderLine, Tier};
use order::views::{PriceTierProjection, TierItem};
use order::OrderSystem;

fn line(sku: &str, cents: u64, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        label: sku.to_uppercase(),
        unit_price: Cents(cents),
        quantity,
    }
}

fn place(order_id: &str, customer: &str, items: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::PlaceOrder {
        order_id: order_id.into(),
        customer_id: customer.into(),
        items,
    }
}

fn skus(system: &OrderSystem, customer: &str, tier: Tier) -> Vec<(String, u64)> {
    let groups = system.tiers.items(customer, Some(tier));
    assert_eq!(groups.len(), 1);
    groups[0]
        .items
        .iter()
        .map(|i| (i.sku.clone(), i.quantity))
        .collect()
}

#[tokio::test]
async fn exactly_five_and_exactly_fifty_are_affordable() {
    let system = OrderSystem::embedded();
    let items = vec![
        line("a499", 499, 1),
        line("a500", 500, 1),
        line("a5000", 5000, 1),
        line("a5001", 5001, 1),
        line("a1", 1, 1),
    ];
    system.execute(place("o1", "c1", items)).await.unwrap();
    system.settle().await.unwrap();
    assert_eq!(
        skus(&system, "c1", Tier::Cheap),
        [("a1".into(), 1), ("a499".into(), 1)]
    );
    assert_eq!(
        skus(&system, "c1", Tier::Affordable),
        [("a500".into(), 1), ("a5000".into(), 1)]
    );
    assert_eq!(skus(&system, "c1", Tier::Expensive), [("a5001".into(), 1)]);
    let all = system.tiers.items("c1", None);
    assert_eq!(
        all.iter().map(|g| g.tier).collect::<Vec<_>>(),
        Tier::ALL,
        "all three groups without a tier"
    );
}

#[tokio::test]
async fn same_sku_and_price_aggregate_and_cancelling_removes_the_items() {
    let system = OrderSystem::embedded();
    system
        .execute(place(
            "o1",
            "c1",
            vec![line("pen", 150, 2), line("lamp", 5000, 1)],
        ))
        .await
        .unwrap();
    system
        .execute(place(
            "o2",
            "c1",
            vec![line("pen", 150, 3), line("pen", 175, 1)],
        ))
        .await
        .unwrap();
    system
        .execute(place("o3", "c2", vec![line("pen", 150, 9)]))
        .await
        .unwrap();
    system.settle().await.unwrap();
    assert_eq!(
        skus(&system, "c1", Tier::Cheap),
        [("pen".into(), 5), ("pen".into(), 1)]
    );
    system
        .execute(OrderCommand::CancelOrder {
            order_id: "o1".into(),
            reason: "changed mind".into(),
        })
        .await
        .unwrap();
    system.settle().await.unwrap();
    assert_eq!(
        skus(&system, "c1", Tier::Cheap),
        [("pen".into(), 3), ("pen".into(), 1)]
    );
    assert!(
        skus(&system, "c1", Tier::Affordable).is_empty(),
        "the cancelled lamp left the view"
    );
    assert_eq!(
        skus(&system, "c2", Tier::Cheap),
        [("pen".into(), 9)],
        "other customers untouched"
    );
    assert_eq!(
        system.tiers.items("c1", Some(Tier::Cheap))[0].items[0],
        TierItem {
            sku: "pen".into(),
            label: "PEN".into(),
            unit_price: Cents(150),
            quantity: 3
        }
    );
}

#[tokio::test]
async fn redelivered_events_are_applied_once() {
    let store = Arc::new(InMemoryEventStore::new());
    let system = OrderSystem::on(store.clone());
    system
        .execute(place("o1", "c1", vec![line("pen", 150, 2)]))
        .await
        .unwrap();
    let events = store.read_all(1, 100).await.unwrap();
    let (mut projection, view) = PriceTierProjection::new();
    for _ in 0..3 {
        for event in &events {
            projection.apply(event).await.unwrap();
        }
    }
    assert_eq!(view.items("c1", Some(Tier::Cheap))[0].items[0].quantity, 2);
}

#[tokio::test]
async fn a_rebuild_comes_out_identical() {
    let store: Arc<dyn EventStore> = Arc::new(InMemoryEventStore::new());
    let system = OrderSystem::on(store.clone());
    for command in order::demo::script() {
        let _ = system.execute(command).await;
    }
    system.settle().await.unwrap();

    let (projection, rebuilt) = PriceTierProjection::new();
    let mut runner = ProjectionRunner::new(store.clone(), projection);
    runner.rebuild().await.unwrap();
    runner.catch_up().await.unwrap();
    assert!(
        rebuilt.same_items_as(&system.tiers),
        "the rebuilt view equals the live one"
    );
    assert!(!rebuilt.customers().is_empty());
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_demo_prints_tiers_with_the_boundaries_right() {
    let system = OrderSystem::embedded();
    let report = order::demo::run(&system).await.unwrap();
    let alice = report.split("alice\n").nth(1).unwrap();
    let affordable = alice
        .split("  affordable\n")
        .nth(1)
        .unwrap()
        .split("  expensive")
        .next()
        .unwrap();
    assert!(
        affordable.contains("lamp") && affordable.contains("50.00"),
        "50.00 is affordable:\n{report}"
    );
    assert!(
        affordable.contains("notebook") && affordable.contains("5.00"),
        "5.00 is affordable:\n{report}"
    );
    assert!(
        !report.contains("chair"),
        "the cancelled order's items are gone:\n{report}"
    );
    assert!(
        report.contains("refused  pay o-4"),
        "paying a cancelled order is refused:\n{report}"
    );
}
