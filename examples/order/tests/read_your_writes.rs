//! Read-your-writes: every command reply carries `"position"`, and a query given
//! `?min_position=` (or `X-Min-Position`) answers with that write in, or 503 with
//! `Retry-After` once its bound passed. Embedded mode (in-memory store, in-process
//! projection) and services mode (PostgreSQL, relay, Kafka, PostgreSQL view; needs
//! `DATABASE_URL` and `KAFKA_BROKERS`, prints SKIPPED without them unless `CI=true`).

use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use order::http::AppState;
use order::{OrderServices, OrderSystem, ServicesConfig};
use serde_json::{json, Value};
use service_kit::read_your_writes::ReadYourWrites;
use service_kit::testing::oneshot::{call, call_with_headers};
use service_kit::testing::services::Services;

fn place(order_id: &str, customer_id: &str, sku: &str) -> Value {
    json!({
        "order_id": order_id,
        "customer_id": customer_id,
        "items": [{"sku": sku, "label": "Item", "unit_price": 150, "quantity": 1}]
    })
}

fn skus(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["items"].as_array().expect("items").iter())
        .map(|i| i["sku"].as_str().expect("sku").to_owned())
        .collect()
}

/// `with_bound`'s state: queries wait at most `max_wait` for their `min_position`.
fn with_bound(state: AppState, max_wait: Duration) -> axum::Router {
    order::http::router(AppState {
        read_your_writes: ReadYourWrites {
            max_wait,
            ..ReadYourWrites::default()
        },
        ..state
    })
}

/// Places `count` orders, each read back at once with its reply's position: the view has
/// it every time (query parameter and header alternately).
async fn every_write_is_read_back(api: &axum::Router, customer: &str, count: usize) {
    for i in 0..count {
        let sku = format!("sku-{i}");
        let (status, reply) = call(
            api,
            "POST",
            "/orders",
            Some(place(&format!("{customer}-{i}"), customer, &sku)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        let position = reply["position"].as_u64().expect("a position");
        let (status, groups) = if i % 2 == 0 {
            let uri = format!("/customers/{customer}/items?tier=cheap&min_position={position}");
            let (status, _, groups) = call_with_headers(api, "GET", &uri, &[], None).await;
            (status, groups)
        } else {
            let uri = format!("/customers/{customer}/items");
            let value = position.to_string();
            let headers = [("X-Min-Position", value.as_bytes())];
            let (status, _, groups) = call_with_headers(api, "GET", &uri, &headers, None).await;
            (status, groups)
        };
        assert_eq!(status, StatusCode::OK, "iteration {i}: {groups}");
        assert_eq!(
            skus(&groups).len(),
            i + 1,
            "iteration {i}: the order placed at position {position} is missing: {groups}"
        );
        assert!(skus(&groups).contains(&sku), "iteration {i}: {groups}");
    }
}

/// A position the log never reaches: 503 with Retry-After, after about `bound`.
async fn a_position_never_reached_is_a_503(api: &axum::Router, bound: Duration) {
    let (_, reply) = call(api, "POST", "/orders", Some(place("late", "late", "x"))).await;
    let position = reply["position"].as_u64().expect("a position");
    let wanted = position + 1_000_000;
    for uri in [
        format!("/customers/late/items?min_position={wanted}"),
        format!("/orders/late?min_position={wanted}"),
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
    let system = OrderSystem::embedded();
    let api = with_bound(system.app_state(), Duration::from_secs(5));
    every_write_is_read_back(&api, "erin", 100).await;
    system.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_position_never_reached_is_a_503_with_retry_after() {
    let system = OrderSystem::embedded();
    let bound = Duration::from_millis(200);
    a_position_never_reached_is_a_503(&with_bound(system.app_state(), bound), bound).await;
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_command_reply_has_a_position_also_when_it_changed_nothing() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let (status, first) = call(&api, "POST", "/orders", Some(place("o1", "fay", "pen"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, same) = call(&api, "POST", "/orders", Some(place("o1", "fay", "pen"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same order again changes nothing: {same}"
    );
    assert_eq!(same["events"], json!([]));
    assert_eq!(
        same["position"], first["position"],
        "the position of the state it found"
    );
    for (path, body) in [
        ("/orders/o1/pay", None),
        ("/orders/o1/ship", None),
        ("/orders/o2/pay", None),
    ] {
        let (status, reply) = call(&api, "POST", path, body).await;
        if status.is_success() {
            assert!(reply["position"].as_u64().is_some(), "{path}: {reply}");
        }
    }
    // The order itself, read from the store with its position.
    let position = first["position"].as_u64().unwrap();
    let (status, order) = call(
        &api,
        "GET",
        &format!("/orders/o1?min_position={position}"),
        None,
    )
    .await;
    assert_eq!(
        (status, order["status"].as_str()),
        (StatusCode::OK, Some("shipped"))
    );
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_min_position_that_is_not_a_position_is_a_400_naming_it() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    for uri in [
        "/customers/gus/items?min_position=soon",
        "/customers/gus/items?min_position=-1",
        "/orders/o1?min_position=1.5",
    ] {
        let (status, reply) = call(&api, "GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {reply}");
        assert_eq!(reply["field"], "min_position", "{uri}: {reply}");
    }
    let headers = [("X-Min-Position", &b"+3"[..])];
    let (status, _, reply) =
        call_with_headers(&api, "GET", "/customers/gus/items", &headers, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["field"], "X-Min-Position");
    system.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_a_write_is_read_back_through_kafka_and_a_position_never_reached_is_a_503() {
    let Some(services_at) = Services::reachable_or_skip("order read-your-writes, services mode")
    else {
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
        format!("order_ryw_events_{run}"),
        format!("order_ryw_views_{run}"),
    );
    config.event_schema = event_schema.clone();
    config.view_schema = view_schema.clone();
    config.topic_prefix = format!("ryw{run}.");
    config.group_id = format!("order-ryw-{run}");
    let services = OrderServices::start(config).await.expect("services start");

    // Generous for the 100 reads (the relay and the consumer on a loaded test machine),
    // short for the position that never comes.
    every_write_is_read_back(
        &with_bound(services.app_state(), Duration::from_secs(8)),
        "hana",
        100,
    )
    .await;
    let bound = Duration::from_millis(300);
    a_position_never_reached_is_a_503(&with_bound(services.app_state(), bound), bound).await;

    services.shutdown().await.expect("clean shutdown");
    services_at
        .drop_schemas(&[&event_schema, &view_schema])
        .await;
}
