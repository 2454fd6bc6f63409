//! The hostile inputs of issue 10 against the HTTP API (embedded mode): each is refused
//! with a 4xx JSON body naming the field before anything is written, never a 201, a 503
//! or a panic; the error answers axum gives on its own have the JSON body too.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cqrs_core::{EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent};
use order::domain::{Cents, OrderEvent, OrderLine};
use order::OrderSystem;
use serde_json::{json, Value};
use service_kit::testing::oneshot::{assert_refused_naming, call};

fn order(id: &str, sku: &str, label: &str, unit_price: Value, quantity: Value) -> Value {
    json!({
        "order_id": id,
        "customer_id": "alice",
        "items": [
            {"sku": "ok", "label": "Fine", "unit_price": 100, "quantity": 1},
            {"sku": sku, "label": label, "unit_price": unit_price, "quantity": quantity}
        ]
    })
}

/// The status and JSON body of a raw request.
async fn send(api: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, bytes) = service_kit::testing::oneshot::send(api, request).await;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {:?}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

#[tokio::test]
async fn an_i64_max_unit_price_times_four_is_refused_naming_the_field() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let body = order("o1", "pen", "Pen", json!(i64::MAX), json!(4));
    let (status, reply) = call(&api, "POST", "/orders", Some(body)).await;
    assert_refused_naming(status, &reply, "items[1].unit_price");
    assert_eq!(
        call(&api, "GET", "/orders/o1", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_label_of_a_million_characters_is_never_accepted() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let body = order("o1", "pen", &"x".repeat(1_040_000), json!(100), json!(1));
    let (status, reply) = call(&api, "POST", "/orders", Some(body)).await;
    if status != StatusCode::PAYLOAD_TOO_LARGE {
        assert_refused_naming(status, &reply, "items[1].label");
    }
    assert_eq!(
        call(&api, "GET", "/orders/o1", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_nul_in_a_sku_a_label_or_a_reason_is_refused_naming_the_field() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let (status, reply) = call(
        &api,
        "POST",
        "/orders",
        Some(order("o1", "a\0b", "Pen", json!(100), json!(1))),
    )
    .await;
    assert_refused_naming(status, &reply, "items[1].sku");
    let (status, reply) = call(
        &api,
        "POST",
        "/orders",
        Some(order("o1", "pen", "P\0en", json!(100), json!(1))),
    )
    .await;
    assert_refused_naming(status, &reply, "items[1].label");
    let (status, reply) = call(
        &api,
        "POST",
        "/orders",
        Some(json!({"order_id": "o\u{0}1", "customer_id": "alice", "items": [{"sku": "a", "label": "A", "unit_price": 1, "quantity": 1}]})),
    )
    .await;
    assert_refused_naming(status, &reply, "order_id");

    let good = order("o1", "pen", "Pen", json!(100), json!(1));
    assert_eq!(
        call(&api, "POST", "/orders", Some(good)).await.0,
        StatusCode::CREATED
    );
    let (status, reply) = call(
        &api,
        "POST",
        "/orders/o1/cancel",
        Some(json!({"reason": "changed\u{0}mind"})),
    )
    .await;
    assert_refused_naming(status, &reply, "reason");
    let (_, order) = call(&api, "GET", "/orders/o1", None).await;
    assert_eq!(order["status"], "placed", "nothing was applied");
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_oversized_bodies_answer_json() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let (status, body) = send(&api, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert!(body["message"].is_string());

    let (status, body) = send(
        &api,
        Request::delete("/orders").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );

    let huge = format!("{{\"order_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let request = Request::post("/orders")
        .header("content-type", "application/json")
        .body(Body::from(huge))
        .unwrap();
    let (status, body) = send(&api, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );

    let (status, body) = send(
        &api,
        Request::get("/health/ready").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready")),
        "{body}"
    );
}

#[tokio::test]
async fn an_order_recorded_with_overflowing_prices_is_shown_without_a_panic_and_cannot_be_paid() {
    // An order recorded before the limits existed, or by another producer.
    let store = Arc::new(InMemoryEventStore::new());
    let placed = OrderEvent::OrderPlaced {
        order_id: "old".into(),
        customer_id: "alice".into(),
        lines: vec![OrderLine {
            sku: "gold".into(),
            label: "Gold".into(),
            unit_price: Cents(i64::MAX as u64),
            quantity: 4,
        }],
    };
    store
        .append(
            "Order-old",
            ExpectedVersion::NoStream,
            vec![NewEvent::from_event(&placed).expect("encode")],
            &Metadata::default(),
        )
        .await
        .expect("append");
    let system = OrderSystem::on(store);
    let api = order::http::router(system.app_state());
    let (status, order) = call(&api, "GET", "/orders/old", None).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["total"], Value::Null, "{order}");
    assert_eq!(order["lines"][0]["line_total"], Value::Null, "{order}");
    let (status, reply) = call(&api, "POST", "/orders/old/pay", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    let (_, order) = call(&api, "GET", "/orders/old", None).await;
    assert_eq!(
        order["status"], "placed",
        "no wrapped OrderPaid amount was recorded"
    );
}

#[tokio::test]
async fn input_the_event_store_refuses_is_a_422_never_a_503() {
    // A store whose payload limit is below this order (as the services-mode store's is
    // below anything Kafka cannot carry).
    let store = Arc::new(InMemoryEventStore::with_limits(cqrs_core::StoreLimits {
        max_payload_bytes: 200,
        ..Default::default()
    }));
    let system = OrderSystem::on(store);
    let api = order::http::router(system.app_state());
    let body = order("o1", "pen", &"x".repeat(190), json!(100), json!(1));
    let (status, reply) = call(&api, "POST", "/orders", Some(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(reply["error"], "refused", "{reply}");
    assert_eq!(
        call(&api, "GET", "/orders/o1", None).await.0,
        StatusCode::NOT_FOUND
    );
}
