//! Read-your-writes on the inventory's product API: every product command's reply carries
//! `"position"`, and `GET /products/{sku}` and `GET /stock/low` given `?min_position=` (or
//! `X-Min-Position`) answer with that write in, or 503 with `Retry-After` once their bound
//! passed. Embedded mode (in-memory store, in-process stock view) and services mode
//! (PostgreSQL, relay, Kafka, PostgreSQL stock view; needs `DATABASE_URL` and
//! `KAFKA_BROKERS`, prints SKIPPED without them unless `CI=true`).

use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use inventory::http::{self, ApiState};
use inventory::{InventoryServices, InventorySystem, ServicesConfig};
use serde_json::{json, Value};
use service_kit::read_your_writes::ReadYourWrites;
use service_kit::testing::oneshot::call_with_headers;
use service_kit::testing::services::Services;

fn router(state: ApiState, max_wait: Duration) -> axum::Router {
    http::router(ApiState {
        read_your_writes: ReadYourWrites {
            max_wait,
            ..ReadYourWrites::default()
        },
        ..state
    })
}

fn embedded_state(system: &InventorySystem) -> ApiState {
    ApiState {
        inventory: system.app.clone(),
        low_stock_threshold: 5,
        health: system.health.clone(),
        stock_position: system.stock_position(),
        read_your_writes: ReadYourWrites::default(),
    }
}

async fn call(
    api: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, reply) = call_with_headers(api, method, uri, &[], body).await;
    (status, reply)
}

/// Registers `sku`, then receives one unit `count` times, each read back at once with its
/// reply's position (query parameter and header alternately): the view has it every time.
async fn every_write_is_read_back(api: &axum::Router, sku: &str, count: u64) {
    let (status, reply) = call(
        api,
        "POST",
        "/products",
        Some(json!({"sku": sku, "name": sku})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let position = reply["position"].as_u64().expect("a position");
    let (status, level) = call(
        api,
        "GET",
        &format!("/products/{sku}?min_position={position}"),
        None,
    )
    .await;
    assert_eq!(
        (status, &level["on_hand"]),
        (StatusCode::OK, &json!(0)),
        "{level}"
    );
    for i in 1..=count {
        let (status, reply) = call(
            api,
            "POST",
            &format!("/products/{sku}/stock"),
            Some(json!({"qty": 1})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let position = reply["position"].as_u64().expect("a position");
        let (status, level) = if i % 2 == 0 {
            call(
                api,
                "GET",
                &format!("/products/{sku}?min_position={position}"),
                None,
            )
            .await
        } else {
            let value = position.to_string();
            let headers = [("X-Min-Position", value.as_bytes())];
            let uri = format!("/products/{sku}");
            let (status, _, level) = call_with_headers(api, "GET", &uri, &headers, None).await;
            (status, level)
        };
        assert_eq!(status, StatusCode::OK, "iteration {i}: {level}");
        assert_eq!(
            level["on_hand"], i,
            "iteration {i}: the receipt at position {position} is missing: {level}"
        );
    }
    // The low-stock list reads the same view.
    let (_, reply) = call(
        api,
        "DELETE",
        &format!("/products/{sku}/reservations/none"),
        None,
    )
    .await;
    let position = reply["position"].as_u64().expect("a position");
    let uri = format!("/stock/low?threshold={}&min_position={position}", count + 1);
    let (status, low) = call(api, "GET", &uri, None).await;
    assert_eq!(status, StatusCode::OK, "{low}");
    assert!(
        low["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["sku"] == sku && p["available"] == count),
        "{low}"
    );
}

/// A position the log never reaches: 503 with Retry-After, after about `bound`.
async fn a_position_never_reached_is_a_503(api: &axum::Router, bound: Duration) {
    let (_, reply) = call(
        api,
        "POST",
        "/products",
        Some(json!({"sku": "late", "name": "Late"})),
    )
    .await;
    let position = reply["position"].as_u64().expect("a position");
    let wanted = position + 1_000_000;
    for uri in [
        format!("/products/late?min_position={wanted}"),
        format!("/stock/low?min_position={wanted}"),
    ] {
        let started = Instant::now();
        let (status, headers, body) = call_with_headers(api, "GET", &uri, &[], None).await;
        let waited = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
        assert!(
            headers.contains_key(header::RETRY_AFTER),
            "{uri}: {headers:?}"
        );
        assert_eq!(body["error"], "not_caught_up", "{body}");
        assert_eq!(body["min_position"], wanted);
        assert!(
            body["processed_position"].as_u64().unwrap() < wanted,
            "{body}"
        );
        assert!(waited >= bound, "{uri} answered after {waited:?}");
        assert!(
            waited < bound + Duration::from_secs(5),
            "{uri} took {waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_write_is_read_back_with_its_position_every_time() {
    let system = InventorySystem::embedded();
    let api = router(embedded_state(&system), Duration::from_secs(5));
    every_write_is_read_back(&api, "pen", 100).await;
    system.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_position_never_reached_is_a_503_with_retry_after() {
    let system = InventorySystem::embedded();
    let bound = Duration::from_millis(200);
    a_position_never_reached_is_a_503(&router(embedded_state(&system), bound), bound).await;
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_identical_registration_has_the_position_of_the_state_it_found() {
    let system = InventorySystem::embedded();
    let api = router(embedded_state(&system), Duration::from_secs(5));
    let body = json!({"sku": "mug", "name": "Mug"});
    let (status, first) = call(&api, "POST", "/products", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, same) = call(&api, "POST", "/products", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["created"], false);
    assert_eq!(same["position"], first["position"], "{same}");
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_min_position_that_is_not_a_position_is_a_400_naming_it() {
    let system = InventorySystem::embedded();
    let api = router(embedded_state(&system), Duration::from_secs(5));
    for uri in [
        "/products/pen?min_position=soon",
        "/stock/low?min_position=-1",
        "/stock/low?threshold=3&min_position=1&min_position=2",
    ] {
        let (status, reply) = call(&api, "GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {reply}");
        assert_eq!(reply["field"], "min_position", "{uri}: {reply}");
    }
    let headers = [("X-Min-Position", &b"1e3"[..])];
    let (status, _, reply) = call_with_headers(&api, "GET", "/products/pen", &headers, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["field"], "X-Min-Position");
    system.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_a_write_is_read_back_through_kafka_and_a_position_never_reached_is_a_503() {
    let Some(services_at) =
        Services::reachable_or_skip("inventory read-your-writes, services mode")
    else {
        return;
    };
    let run = uuid::Uuid::now_v7().simple().to_string();
    let run = &run[run.len() - 10..];
    let mut config = ServicesConfig::new(&services_at.database_url, &services_at.kafka_brokers);
    let (event_schema, view_schema) = (
        format!("inv_ryw_events_{run}"),
        format!("inv_ryw_views_{run}"),
    );
    config.event_schema = event_schema.clone();
    config.view_schema = view_schema.clone();
    config.topic_prefix = format!("invryw{run}.");
    config.group_prefix = format!("inv-ryw-{run}");
    let services = InventoryServices::start(config)
        .await
        .expect("services start");
    let state = ApiState {
        inventory: services.app.clone(),
        low_stock_threshold: 5,
        health: services.health.clone(),
        stock_position: services.stock_position(),
        read_your_writes: ReadYourWrites::default(),
    };

    // Generous for the 100 reads (the relay and the consumer on a loaded test machine),
    // short for the position that never comes.
    every_write_is_read_back(&router(state.clone(), Duration::from_secs(8)), "hot", 100).await;
    let bound = Duration::from_millis(300);
    a_position_never_reached_is_a_503(&router(state, bound), bound).await;

    services.shutdown().await.expect("clean shutdown");
    services_at
        .drop_schemas(&[&event_schema, &view_schema])
        .await;
}
