//! The hostile inputs of issue 10 against the inventory API (embedded mode): each is
//! refused with a 4xx JSON body naming the field before anything is written, never a 2xx,
//! a 503 or a panic; the answers axum gives on its own have the JSON body too; a stopped
//! background worker turns readiness to 503 naming it.

mod support;

use std::time::Duration;

use cqrs_core::{EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent};
use inventory::InventorySystem;
use serde_json::{json, Value};
use service_kit::testing::oneshot::assert_refused_naming;
use support::oneshot::{call, router, send};

fn order(sku: &str, label: &str, unit_price: Value) -> Value {
    json!({
        "order_id": "o-1",
        "customer_id": "alice",
        "items": [
            {"sku": "pen", "label": "Pen", "unit_price": 100, "quantity": 1},
            {"sku": sku, "label": label, "unit_price": unit_price, "quantity": 4}
        ]
    })
}

#[tokio::test]
async fn hostile_order_fields_are_refused_naming_the_field_and_nothing_is_stored() {
    let system = InventorySystem::embedded();
    let api = router(&system);
    let cases = [
        (order("mug", "Mug", json!(i64::MAX)), "items[1].unit_price"),
        (
            order("mug", &"x".repeat(1_040_000), json!(100)),
            "items[1].label",
        ),
        (order("a\u{0}b", "Mug", json!(100)), "items[1].sku"),
        (order("mug", "M\u{0}ug", json!(100)), "items[1].label"),
        (
            json!({"order_id": "o-1", "customer_id": "al\u{0}ice", "items": [{"sku": "pen", "label": "Pen", "unit_price": 1, "quantity": 1}]}),
            "customer_id",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = call(&api, "POST", "/orders", Some(body)).await;
        if status == 413 {
            continue; // a body over the limit is refused before it is read
        }
        assert_refused_naming(status, &reply, field);
    }
    assert_eq!(
        call(&api, "GET", "/orders/o-1", None).await.0,
        404,
        "nothing was stored"
    );

    let (status, reply) = call(
        &api,
        "POST",
        "/products",
        Some(json!({"sku": "pen", "name": "P\u{0}en"})),
    )
    .await;
    assert_refused_naming(status, &reply, "name");
    let (status, _) = call(
        &api,
        "POST",
        "/products",
        Some(json!({"sku": "pen", "name": "Pen"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, reply) = call(
        &api,
        "POST",
        "/products/pen/stock",
        Some(json!({"qty": i64::MAX})),
    )
    .await;
    assert_refused_naming(status, &reply, "qty");

    let good = order("pen", "Pen", json!(100));
    assert_eq!(call(&api, "POST", "/orders", Some(good)).await.0, 202);
    let (status, reply) = call(
        &api,
        "POST",
        "/orders/o-1/cancel",
        Some(json!({"reason": "changed\u{0}mind"})),
    )
    .await;
    assert_refused_naming(status, &reply, "reason");
    let (_, order) = call(&api, "GET", "/orders/o-1", None).await;
    assert_eq!(
        order["status"], "placed",
        "the cancellation was not applied: {order}"
    );
    system.shutdown().await.expect("stop");
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_oversized_bodies_answer_json() {
    let system = InventorySystem::embedded();
    let api = router(&system);
    for (method, uri, body, expected) in [
        ("GET", "/nowhere", Vec::new(), 404),
        ("DELETE", "/products", Vec::new(), 405),
        ("POST", "/products", vec![b' '; 2 * 1024 * 1024], 413),
    ] {
        let (status, reply) = send(&api, method, uri, body).await;
        assert_eq!(status, expected, "{method} {uri}");
        let reply: Value = serde_json::from_slice(&reply).unwrap_or_else(|_| {
            panic!(
                "{method} {uri}: not JSON: {}",
                String::from_utf8_lossy(&reply)
            )
        });
        assert!(
            reply["error"].is_string() && reply["message"].is_string(),
            "{reply}"
        );
    }
    let (status, ready) = call(&api, "GET", "/health/ready", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["workers"], json!(["fulfilment-saga", "stock-levels"]));
    system.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_stopped_projection_makes_readiness_503_naming_it_while_liveness_stays_200() {
    let system = InventorySystem::embedded();
    let api = router(&system);
    // An event the stock view cannot decode stops its runner for good after the retries.
    let undecodable = NewEvent::raw("StockReceived", 1, JsonPayload::parse("{}").expect("json"));
    system
        .store()
        .append(
            "Product-pen",
            ExpectedVersion::Any,
            vec![undecodable],
            &Metadata::default(),
        )
        .await
        .expect("append");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = call(&api, "GET", "/health/ready", None).await;
        if status == 503 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(body["error"], "worker_stopped", "{body}");
    assert!(body["stopped"]["stock-levels"].is_string(), "{body}");
    assert!(body["stopped"].get("fulfilment-saga").is_none(), "{body}");
    assert_eq!(call(&api, "GET", "/health/live", None).await.0, 200);
    // The process keeps serving commands.
    let (status, _) = call(
        &api,
        "POST",
        "/products",
        Some(json!({"sku": "mug", "name": "Mug"})),
    )
    .await;
    assert_eq!(status, 201);
}
