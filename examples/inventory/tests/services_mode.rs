//! Services mode end to end, both services in this test's process: the order service
//! (its own event store schema, its relay to the `Order` topic, its command processor) and
//! the inventory service (its own schemas, the saga consuming `OrderPlaced` with a consumer
//! group and sending `ConfirmOrder` / `CancelOrder` back over the Kafka command bus), the
//! inventory driven over HTTP. `tests/two_services.rs` runs the two as OS processes.
//!
//! Needs PostgreSQL (`DATABASE_URL`) and a Kafka broker (`KAFKA_BROKERS`; `scripts/test.sh`
//! starts one). Without them it prints one SKIPPED line, unless `CI=true` (then it fails).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use inventory::http::{self, ApiState};
use inventory::{InventoryServices, ServicesConfig};
use order::domain::{Cents, Order, OrderCommand, OrderLine, OrderStatus};
use serde_json::{json, Value};
use service_kit::testing::services::Services;
use support::http_client::request;

const ORDERS: usize = 50;
const STOCK: u64 = 20;

async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let response = request(addr, method, path, body.as_deref()).await;
    (response.status, response.body)
}

async fn eventually(addr: SocketAddr, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = call(addr, "GET", path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {path} never reached the expected state: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_orders_over_kafka_confirm_exactly_the_stock_and_cancel_the_rest() {
    let Some(services_at) = Services::reachable_or_skip("inventory services-mode e2e") else {
        return;
    };

    // Fresh names per run: reruns and parallel runs never share state.
    let run = uuid::Uuid::now_v7().simple().to_string();
    let run = &run[run.len() - 10..];
    let mut config = ServicesConfig::new(&services_at.database_url, &services_at.kafka_brokers);
    let (event_schema, view_schema) = (format!("inv_events_{run}"), format!("inv_views_{run}"));
    config.event_schema = event_schema.clone();
    config.view_schema = view_schema.clone();
    config.topic_prefix = format!("inv{run}.");
    config.group_prefix = format!("inv-{run}");
    let mut order_config =
        order::ServicesConfig::new(&services_at.database_url, &services_at.kafka_brokers);
    let (order_events, order_views) = (format!("inv_orders_{run}"), format!("inv_oviews_{run}"));
    order_config.event_schema = order_events.clone();
    order_config.view_schema = order_views.clone();
    order_config.topic_prefix = config.topic_prefix.clone();
    let order_service = order::OrderServices::start(order_config)
        .await
        .expect("order service starts");
    let services = InventoryServices::start(config)
        .await
        .expect("services start");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let state = ApiState {
        inventory: services.app.clone(),
        low_stock_threshold: 5,
        health: services.health.clone(),
        stock_position: services.stock_position(),
        read_your_writes: Default::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let (status, _) = call(
        addr,
        "POST",
        "/products",
        Some(json!({ "sku": "hot", "name": "Hot item" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        addr,
        "POST",
        "/products/hot/stock",
        Some(json!({ "qty": STOCK })),
    )
    .await;
    assert_eq!(status, 200);

    let ids: Vec<String> = (0..ORDERS).map(|i| format!("k-{i:02}")).collect();
    let placing: Vec<_> = ids
        .iter()
        .map(|id| {
            let orders = order_service.orders.clone();
            let place = OrderCommand::PlaceOrder {
                order_id: id.clone(),
                customer_id: "c".into(),
                items: vec![OrderLine {
                    sku: "hot".into(),
                    label: "Hot item".into(),
                    unit_price: Cents(999),
                    quantity: 1,
                }],
            };
            tokio::spawn(async move { orders.execute(place).await })
        })
        .collect();
    for task in placing {
        task.await
            .expect("task")
            .expect("placed by the order service");
    }

    // The inventory's decision (its API) and the order's state (the order service's store)
    // agree: exactly the stock confirmed, the rest cancelled for want of stock.
    let (mut confirmed, mut cancelled) = (0, 0);
    for id in &ids {
        let allocation = eventually(addr, &format!("/orders/{id}/allocation"), |b| {
            b["status"] != "pending"
        })
        .await;
        let order = order_decided(&order_service, id).await;
        match allocation["status"].as_str() {
            Some("confirmed") => {
                assert!(order.confirmed, "{id}: {order:?}");
                assert_eq!(order.status, OrderStatus::Placed, "{id}: {order:?}");
                confirmed += 1;
            }
            Some("rejected") => {
                assert_eq!(order.status, OrderStatus::Cancelled, "{id}: {order:?}");
                assert_eq!(order.cancel_reason.as_deref(), Some("out_of_stock"));
                assert!(!order.confirmed, "{id}: {order:?}");
                cancelled += 1;
            }
            other => panic!("order {id}: unexpected allocation {other:?}"),
        }
    }
    assert_eq!((confirmed, cancelled), (20, 30));
    // In services mode the inventory serves no order endpoints: they are the order
    // service's.
    let (status, _) = call(addr, "GET", "/orders/k-00", None).await;
    assert_eq!(status, 404);

    let level = eventually(addr, "/products/hot", |b| b["reserved"] == STOCK).await;
    assert_eq!(
        level,
        json!({ "sku": "hot", "name": "Hot item", "on_hand": 20, "reserved": 20, "available": 0 })
    );
    let low = eventually(addr, "/stock/low?threshold=1", |b| {
        b["products"][0]["sku"] == "hot"
    })
    .await;
    assert_eq!(low["products"].as_array().map(Vec::len), Some(1));

    // Events the stock view's database refuses for good (on-hand units beyond bigint,
    // SQLSTATE 22003), written around the domain's limits as an old event or another
    // producer would, then a good event on the same stream (so the same partition): the
    // view's consumer dead-letters the refused one and applies the next.
    use cqrs_core::{EventStore, ExpectedVersion, Metadata, NewEvent};
    use inventory::domain::ProductEvent;
    let store = cqrs_postgres::PgEventStore::connect(
        &services_at.database_url,
        cqrs_postgres::PgEventStoreConfig::new(
            cqrs_postgres::SchemaName::new(event_schema.clone()).expect("schema"),
        ),
    )
    .await
    .expect("second store connection");
    let events = [
        ProductEvent::ProductRegistered {
            sku: "big".into(),
            name: "Big".into(),
        },
        ProductEvent::StockReceived { qty: u64::MAX },
        ProductEvent::StockReceived { qty: 1 },
        ProductEvent::StockReserved {
            order_id: "x".into(),
            qty: 1,
        },
    ];
    let events = events
        .iter()
        .map(|e| NewEvent::from_event(e).expect("encode"))
        .collect();
    store
        .append(
            "Product-big",
            ExpectedVersion::NoStream,
            events,
            &Metadata::default(),
        )
        .await
        .expect("append around the domain");
    eventually(addr, "/products/big", |b| b["reserved"] == 1).await;

    let _ = stop.send(());
    server.await.expect("server task").expect("served");
    services.shutdown().await.expect("shutdown");
    order_service
        .shutdown()
        .await
        .expect("order service shutdown");
    // Leave nothing behind in the shared database.
    services_at
        .drop_schemas(&[&event_schema, &view_schema, &order_events, &order_views])
        .await;
}

/// The order once the saga's command reached it (confirmed or cancelled), read from the
/// order service's store.
async fn order_decided(service: &order::OrderServices, id: &str) -> Order {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let order = service.orders.load(id).await.expect("load order").state;
        if order.confirmed || order.status == OrderStatus::Cancelled {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {id} never decided: {order:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
