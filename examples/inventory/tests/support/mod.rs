//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod http_client;
pub mod oneshot;
pub mod otlp;
pub mod two_services;

use std::sync::Arc;

use cqrs_core::{EventStore, InMemoryEventStore, RecordedEvent, Upcasters};
use inventory::domain::{AllocationStatus, ProductEvent};
use inventory::saga::{FulfilmentSaga, SagaError, SagaOutcome};
use inventory::views::StockLevels;
use inventory::Inventory;
use order::domain::{Cents, OrderLine, OrderStatus};

/// An order line of `quantity` units of `sku` at 1.00.
pub fn line(sku: &str, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        label: format!("{sku} label"),
        unit_price: Cents(100),
        quantity,
    }
}

/// An application on a fresh in-memory store, without any runner: tests drive the saga
/// by hand.
pub fn bare_app() -> (Arc<dyn EventStore>, Inventory) {
    let store: Arc<dyn EventStore> = Arc::new(InMemoryEventStore::new());
    let app = Inventory::with_hosted_orders(store.clone(), Arc::new(StockLevels::default()));
    (store, app)
}

/// Registers `sku` with `qty` units on hand.
pub async fn stocked(app: &Inventory, sku: &str, qty: u64) {
    app.register_product(sku, &format!("{sku} name"))
        .await
        .expect("register");
    if qty > 0 {
        app.receive_stock(sku, qty).await.expect("receive");
    }
}

/// Every event of a stream.
pub async fn stream(store: &Arc<dyn EventStore>, stream_id: &str) -> Vec<RecordedEvent> {
    store.read_stream(stream_id, 1).await.expect("read stream")
}

/// The `OrderPlaced` event of an order.
pub async fn order_placed(store: &Arc<dyn EventStore>, order_id: &str) -> RecordedEvent {
    stream(store, &format!("Order-{order_id}"))
        .await
        .into_iter()
        .find(|e| &*e.event_type == "OrderPlaced")
        .expect("OrderPlaced recorded")
}

/// Hands `recorded` (an order event) to `saga`, decoded as its projection would.
pub async fn react(
    saga: &FulfilmentSaga,
    recorded: &RecordedEvent,
) -> Result<SagaOutcome, SagaError> {
    let event = recorded.decode(saga.upcasters()).expect("an order event");
    saga.handle(&event, recorded).await
}

/// Replays a product's stream and asserts that reserved units never exceeded the units
/// on hand after any event (available never went negative).
pub async fn assert_never_oversold(store: &Arc<dyn EventStore>, sku: &str) {
    let (mut on_hand, mut reserved) = (0i64, 0i64);
    for recorded in stream(store, &format!("Product-{sku}")).await {
        let event: ProductEvent = recorded.decode(&Upcasters::new()).expect("decode");
        match event {
            ProductEvent::StockReceived { qty } => on_hand += qty as i64,
            ProductEvent::StockReserved { qty, .. } => reserved += qty as i64,
            ProductEvent::ReservationReleased { qty, .. } => reserved -= qty as i64,
            ProductEvent::ShipmentConfirmed { qty, .. } => {
                reserved -= qty as i64;
                on_hand -= qty as i64;
            }
            ProductEvent::ProductRegistered { .. } => {}
        }
        assert!(
            reserved <= on_hand && reserved >= 0,
            "{sku} oversold at version {}: {reserved} reserved of {on_hand} on hand",
            recorded.stream_version
        );
    }
}

/// For orders of one unit each of `sku` with `stock` units: exactly `stock` confirmed
/// (reserved, still placed), all others cancelled with `out_of_stock`, and the cancelled
/// orders are exactly those the saga rejected.
pub async fn assert_exact_allocation(
    store: &Arc<dyn EventStore>,
    app: &Inventory,
    sku: &str,
    order_ids: &[String],
    stock: u64,
) {
    let product = app.product(sku).await.expect("load").expect("registered");
    let (mut confirmed, mut cancelled) = (Vec::new(), Vec::new());
    for id in order_ids {
        let report = app
            .hosted_orders()
            .expect("embedded mode hosts orders")
            .order(id)
            .await
            .expect("load")
            .expect("placed");
        match report.allocation.status {
            AllocationStatus::Confirmed => {
                assert_eq!(report.status, OrderStatus::Placed, "confirmed {id}");
                assert_eq!(
                    product.reservation(id),
                    Some(1),
                    "confirmed {id} holds its unit"
                );
                confirmed.push(id.clone());
            }
            AllocationStatus::Rejected => {
                assert_eq!(report.status, OrderStatus::Cancelled, "rejected {id}");
                assert_eq!(report.cancel_reason.as_deref(), Some("out_of_stock"));
                assert_eq!(product.reservation(id), None, "rejected {id} holds nothing");
                cancelled.push(id.clone());
            }
            other => panic!("order {id} is {other:?} after the saga ran"),
        }
    }
    let stock_usize = usize::try_from(stock).expect("small");
    assert_eq!(confirmed.len(), stock_usize, "confirmed orders");
    assert_eq!(
        cancelled.len(),
        order_ids.len() - stock_usize,
        "cancelled orders"
    );
    // Nothing else was cancelled: every cancelled order is one the saga rejected.
    for id in order_ids {
        let report = app
            .hosted_orders()
            .expect("embedded mode hosts orders")
            .order(id)
            .await
            .expect("load")
            .expect("placed");
        let is_cancelled = report.status == OrderStatus::Cancelled;
        assert_eq!(is_cancelled, cancelled.contains(id), "order {id}");
    }
    assert_eq!(product.on_hand, stock);
    assert_eq!(product.reserved(), stock);
    assert_eq!(product.available(), 0);
    assert_never_oversold(store, sku).await;
}
