//! The fulfilment saga: all or nothing, exactly-once effect, correlation, compensation.

mod support;

use cqrs_core::{CommandContext, RecordedEvent, Repository};
use inventory::domain::{
    AllocationCommand, AllocationStatus, OrderAllocation, ProductError, ReleaseOutcome, Shortage,
};
use inventory::saga::{SagaOutcome, OUT_OF_STOCK};
use inventory::InventorySystem;
use order::domain::{OrderCommand, OrderStatus};
use support::*;

#[tokio::test]
async fn an_order_whose_lines_are_all_available_is_confirmed_and_its_stock_reserved() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    stocked(app, "pen", 5).await;
    stocked(app, "book", 2).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 2), line("book", 2)])
        .await
        .expect("place");
    system.settle().await.expect("settle");

    let report = app
        .hosted_orders()
        .expect("embedded mode hosts orders")
        .order("o1")
        .await
        .expect("load")
        .expect("placed");
    assert_eq!(report.status, OrderStatus::Placed);
    assert_eq!(report.allocation.status, AllocationStatus::Confirmed);
    let pen = system.stock.get("pen").expect("pen in view");
    assert_eq!((pen.on_hand, pen.reserved, pen.available), (5, 2, 3));
    let book = system.stock.get("book").expect("book in view");
    assert_eq!((book.on_hand, book.reserved, book.available), (2, 2, 0));
    system.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_order_with_one_short_line_keeps_nothing_and_is_cancelled_out_of_stock() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    stocked(app, "book", 5).await;
    stocked(app, "pen", 1).await;
    // Lines are reserved in sku order: book first (succeeds), then pen (fails).
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("book", 2), line("pen", 2)])
        .await
        .expect("place");
    system.settle().await.expect("settle");

    let report = app
        .hosted_orders()
        .expect("embedded mode hosts orders")
        .order("o1")
        .await
        .expect("load")
        .expect("placed");
    assert_eq!(report.status, OrderStatus::Cancelled);
    assert_eq!(report.cancel_reason.as_deref(), Some(OUT_OF_STOCK));
    assert_eq!(report.allocation.status, AllocationStatus::Rejected);
    let shortage = report.allocation.shortage.expect("shortage recorded");
    assert_eq!(
        (
            shortage.sku.as_str(),
            shortage.requested,
            shortage.available
        ),
        ("pen", 2, 1)
    );
    // The book was reserved, then released: nothing is held.
    let types: Vec<String> = stream(system.store(), "Product-book")
        .await
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    assert_eq!(
        types,
        [
            "ProductRegistered",
            "StockReceived",
            "StockReserved",
            "ReservationReleased"
        ]
    );
    for sku in ["book", "pen"] {
        assert_eq!(system.stock.get(sku).expect("in view").reserved, 0, "{sku}");
    }
    system.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_order_for_an_unknown_product_is_cancelled_out_of_stock() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 5).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 1), line("ghost", 1)])
        .await
        .expect("place");
    let outcome = react(&app.saga(), &order_placed(&store, "o1").await)
        .await
        .expect("saga");
    assert!(
        matches!(&outcome, SagaOutcome::Rejected { shortage: Shortage { sku, available: 0, .. }, .. } if sku == "ghost"),
        "{outcome:?}"
    );
    let pen = app.product("pen").await.expect("load").expect("registered");
    assert_eq!(pen.reserved(), 0);
}

#[tokio::test]
async fn a_sku_on_several_lines_is_reserved_as_their_sum() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 5).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 2), line("pen", 3)])
        .await
        .expect("place");
    let outcome = react(&app.saga(), &order_placed(&store, "o1").await).await;
    assert!(
        matches!(outcome, Ok(SagaOutcome::Confirmed { .. })),
        "{outcome:?}"
    );
    let pen = app.product("pen").await.expect("load").expect("registered");
    assert_eq!(pen.reservation("o1"), Some(5));
}

async fn assert_redelivery_changes_nothing(
    store: &std::sync::Arc<dyn cqrs_core::EventStore>,
    app: &inventory::Inventory,
    placed: &RecordedEvent,
) {
    let head = store.head_position().await.expect("head");
    for _ in 0..3 {
        let outcome = react(&app.saga(), placed).await.expect("saga");
        assert!(
            matches!(outcome, SagaOutcome::AlreadyDecided { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        store.head_position().await.expect("head"),
        head,
        "no new events"
    );
}

#[tokio::test]
async fn a_redelivered_order_placed_is_a_no_op_after_a_confirmation() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 5).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 2)])
        .await
        .expect("place");
    let placed = order_placed(&store, "o1").await;
    let first = react(&app.saga(), &placed).await.expect("saga");
    assert!(matches!(first, SagaOutcome::Confirmed { .. }));
    assert_redelivery_changes_nothing(&store, &app, &placed).await;
    let pen = app.product("pen").await.expect("load").expect("registered");
    assert_eq!(pen.reserved(), 2);
}

#[tokio::test]
async fn a_redelivered_order_placed_is_a_no_op_after_a_rejection() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 1).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 2)])
        .await
        .expect("place");
    let placed = order_placed(&store, "o1").await;
    let first = react(&app.saga(), &placed).await.expect("saga");
    assert!(matches!(first, SagaOutcome::Rejected { .. }));
    // Stock arrives meanwhile: the recorded decision still stands.
    app.receive_stock("pen", 10).await.expect("receive");
    assert_redelivery_changes_nothing(&store, &app, &placed).await;
    let report = app
        .hosted_orders()
        .expect("embedded mode hosts orders")
        .order("o1")
        .await
        .expect("load")
        .expect("placed");
    assert_eq!(report.status, OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_redelivery_completes_a_compensation_interrupted_by_a_crash() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 5).await;
    stocked(&app, "book", 0).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 2), line("book", 1)])
        .await
        .expect("place");
    // A saga run that crashed after reserving the pen and recording the rejection.
    app.reserve("pen", "o1", 2).await.expect("reserve");
    let allocations = Repository::<OrderAllocation>::new(store.clone());
    allocations
        .execute(AllocationCommand::Reject {
            order_id: "o1".into(),
            reason: OUT_OF_STOCK.into(),
            shortage: Shortage {
                sku: "book".into(),
                requested: 1,
                available: 0,
                detail: "none".into(),
            },
        })
        .await
        .expect("reject");

    let outcome = react(&app.saga(), &order_placed(&store, "o1").await).await;
    assert!(
        matches!(outcome, Ok(SagaOutcome::AlreadyDecided { .. })),
        "{outcome:?}"
    );
    let pen = app.product("pen").await.expect("load").expect("registered");
    assert_eq!(pen.reserved(), 0, "the interrupted reservation is released");
    let report = app
        .hosted_orders()
        .expect("embedded mode hosts orders")
        .order("o1")
        .await
        .expect("load")
        .expect("placed");
    assert_eq!(report.status, OrderStatus::Cancelled);
    assert_eq!(report.cancel_reason.as_deref(), Some(OUT_OF_STOCK));
}

#[tokio::test]
async fn the_sagas_commands_join_the_orders_correlation() {
    let (store, app) = bare_app();
    stocked(&app, "pen", 1).await;
    let orders = Repository::<order::domain::Order>::new(store.clone());
    let context = CommandContext::new();
    for id in ["o1", "o2"] {
        orders
            .execute_in(
                &context,
                OrderCommand::PlaceOrder {
                    order_id: id.into(),
                    customer_id: "c1".into(),
                    items: vec![line("pen", 1)],
                },
            )
            .await
            .expect("place");
    }
    let saga = app.saga();
    for id in ["o1", "o2"] {
        react(&saga, &order_placed(&store, id).await)
            .await
            .expect("saga");
    }
    let caused: Vec<RecordedEvent> = store
        .read_all(1, 1000)
        .await
        .expect("read")
        .into_iter()
        .filter(|e| {
            matches!(
                &*e.event_type,
                "StockReserved" | "OrderConfirmed" | "OrderRejected" | "OrderCancelled"
            )
        })
        .collect();
    // o1: StockReserved, the allocation's OrderConfirmed, the order's OrderConfirmed (sent
    // over the in-process command bus); o2: OrderRejected, OrderCancelled (over the bus).
    assert_eq!(caused.len(), 5, "{caused:#?}");
    for event in caused {
        assert_eq!(
            event.metadata.correlation_id,
            Some(context.correlation_id),
            "{} in {}",
            event.event_type,
            event.stream_id
        );
        assert_ne!(event.metadata.causation_id, Some(context.command_id));
    }
}

#[tokio::test]
async fn cancelling_a_confirmed_order_releases_its_stock() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    stocked(app, "pen", 3).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 3)])
        .await
        .expect("place");
    system.settle().await.expect("settle");
    assert_eq!(system.stock.get("pen").expect("view").available, 0);

    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .cancel_order("o1", "customer_request")
        .await
        .expect("cancel");
    system.settle().await.expect("settle");
    let report = app
        .hosted_orders()
        .expect("embedded mode hosts orders")
        .order("o1")
        .await
        .expect("load")
        .expect("placed");
    assert_eq!(report.allocation.status, AllocationStatus::Released);
    let pen = system.stock.get("pen").expect("view");
    assert_eq!((pen.on_hand, pen.reserved, pen.available), (3, 0, 3));
    system.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn shipping_a_confirmed_order_takes_its_units_out_of_stock() {
    let system = InventorySystem::embedded();
    let app = &system.app;
    stocked(app, "pen", 3).await;
    app.hosted_orders()
        .expect("embedded mode hosts orders")
        .place_order("o1", "c1", vec![line("pen", 2)])
        .await
        .expect("place");
    system.settle().await.expect("settle");
    for command in [
        OrderCommand::PayOrder {
            order_id: "o1".into(),
        },
        OrderCommand::ShipOrder {
            order_id: "o1".into(),
        },
    ] {
        app.hosted_orders()
            .expect("embedded mode hosts orders")
            .order_command(command)
            .await
            .expect("pay and ship");
    }
    system.settle().await.expect("settle");
    let report = app
        .hosted_orders()
        .expect("embedded mode hosts orders")
        .order("o1")
        .await
        .expect("load")
        .expect("placed");
    assert_eq!(report.allocation.status, AllocationStatus::Shipped);
    let pen = system.stock.get("pen").expect("view");
    assert_eq!((pen.on_hand, pen.reserved, pen.available), (1, 0, 1));
    system.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn releasing_an_unknown_reservation_reports_not_reserved() {
    let (_store, app) = bare_app();
    stocked(&app, "pen", 3).await;
    let outcome = app.release_reservation("pen", "nobody").await;
    assert_eq!(outcome.expect("no error"), ReleaseOutcome::NotReserved);
    // A product that does not exist is refused (the HTTP API answers 404).
    let outcome = app.release_reservation("ghost", "nobody").await;
    assert!(
        matches!(
            outcome,
            Err(cqrs_core::CommandError::Rejected(ProductError::NotRegistered(ref sku))) if sku == "ghost"
        ),
        "{outcome:?}"
    );
    app.reserve("pen", "o1", 2).await.expect("reserve");
    let outcome = app.release_reservation("pen", "o1").await;
    assert_eq!(
        outcome.expect("released"),
        ReleaseOutcome::Released { qty: 2 }
    );
}
