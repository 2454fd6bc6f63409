//! Services mode end to end: PostgreSQL event store, the outbox relay to Kafka, a consumer
//! group feeding the PostgreSQL view, driven through the HTTP API. Needs PostgreSQL
//! (`DATABASE_URL`) and a Kafka broker (`KAFKA_BROKERS`; `scripts/test.sh` starts one);
//! prints SKIPPED without them unless `CI=true`.

use std::time::Duration;

use axum::http::StatusCode;
use order::{OrderServices, ServicesConfig};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use service_kit::testing::oneshot::call;
use service_kit::testing::services::{key_over_btree_limit, Services};

async fn eventually(router: &axum::Router, uri: &str, expected: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = call(router, "GET", uri, None).await;
        if status == StatusCode::OK && expected(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{uri} never reached the expected state: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn quantities(groups: &Value, tier: &str) -> Vec<(String, u64)> {
    groups
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["tier"] == tier)
        .flat_map(|g| g["items"].as_array().unwrap().iter())
        .map(|i| {
            (
                i["sku"].as_str().unwrap().to_owned(),
                i["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_reach_the_postgres_view_through_kafka() {
    let Some(services_at) = Services::reachable_or_skip("order services-mode e2e") else {
        return;
    };
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut config = ServicesConfig::new(&services_at.database_url, &services_at.kafka_brokers);
    let (event_schema, view_schema) = (
        format!("order_e2e_events_{run}"),
        format!("order_e2e_views_{run}"),
    );
    config.event_schema = event_schema.clone();
    config.view_schema = view_schema.clone();
    config.topic_prefix = format!("e2e{run}.");
    config.group_id = format!("order-e2e-{run}");
    let services = OrderServices::start(config).await.expect("services start");
    let api = order::http::router(services.app_state());

    let place =
        |id: &str, items: Value| json!({"order_id": id, "customer_id": "carol", "items": items});
    let (status, reply) = call(
        &api,
        "POST",
        "/orders",
        Some(place(
            "o1",
            json!([
                {"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 2},
                {"sku": "lamp", "label": "Lamp", "unit_price": 5000, "quantity": 1},
                {"sku": "tv", "label": "TV", "unit_price": 5001, "quantity": 1}
            ]),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (status, _) = call(
        &api,
        "POST",
        "/orders",
        Some(place(
            "o2",
            json!([{"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 3}]),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let groups = eventually(&api, "/customers/carol/items", |g| {
        quantities(g, "cheap") == [("pen".to_owned(), 5)]
    })
    .await;
    assert_eq!(
        quantities(&groups, "affordable"),
        [("lamp".to_owned(), 1)],
        "exactly 50.00 is affordable"
    );
    assert_eq!(quantities(&groups, "expensive"), [("tv".to_owned(), 1)]);

    let (status, _) = call(
        &api,
        "POST",
        "/orders/o1/cancel",
        Some(json!({"reason": "out_of_stock"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let groups = eventually(&api, "/customers/carol/items", |g| {
        quantities(g, "cheap") == [("pen".to_owned(), 3)]
    })
    .await;
    assert!(
        quantities(&groups, "affordable").is_empty(),
        "cancelled items left the view: {groups}"
    );
    let (status, order) = call(&api, "GET", "/orders/o1", None).await;
    assert_eq!(
        (status, order["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );

    // A message that is not an event, on the partition of the next order: the updater sets
    // it aside in the dead-letter topic and goes on to that order.
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &services_at.kafka_brokers)
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(&format!("e2e{run}.Order"))
                .key("Order-o3")
                .payload("not an event"),
            Duration::from_secs(10),
        )
        .await
        .expect("poison message produced");
    let (status, _) = call(
        &api,
        "POST",
        "/orders",
        Some(place(
            "o3",
            json!([{"sku": "mug", "label": "Mug", "unit_price": 900, "quantity": 1}]),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    eventually(&api, "/customers/carol/items", |g| {
        quantities(g, "affordable").contains(&("mug".to_owned(), 1))
    })
    .await;

    // An event the view's database refuses for good (a sku over PostgreSQL's b-tree key
    // limit, SQLSTATE 54000), written around the domain's limits as an old event or another
    // producer would, then a good event on the same stream (so the same partition): the
    // updater dead-letters the first and applies the second.
    let long_sku = key_over_btree_limit();
    let placed = |order_id: &str, sku: &str| {
        let event = order::domain::OrderEvent::OrderPlaced {
            order_id: order_id.into(),
            customer_id: "carol".into(),
            lines: vec![order::domain::OrderLine {
                sku: sku.into(),
                label: "Cup".into(),
                unit_price: order::domain::Cents(700),
                quantity: 1,
            }],
        };
        cqrs_core::NewEvent::from_event(&event).expect("encode")
    };
    services
        .orders
        .store()
        .append(
            "Order-o4",
            cqrs_core::ExpectedVersion::NoStream,
            vec![placed("o4", &long_sku), placed("o4-next", "cup")],
            &cqrs_core::Metadata::default(),
        )
        .await
        .expect("append around the domain");
    eventually(&api, "/customers/carol/items", |g| {
        quantities(g, "affordable").contains(&("cup".to_owned(), 1))
    })
    .await;

    services.shutdown().await.expect("clean shutdown");
    // Leave nothing behind in the shared database.
    services_at
        .drop_schemas(&[&event_schema, &view_schema])
        .await;
}
