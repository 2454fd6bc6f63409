//! `GET /health/ready` reflects the workers and the dependencies: a stopped worker or a
//! store that does not answer makes it 503, naming it with the reason.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use cqrs_core::worker::WorkerStateReporter;
use cqrs_core::InMemoryEventStore;
use http_body_util::BodyExt;
use serde_json::Value;
use service_kit::{harden, Health, HttpLimits};
use tower::ServiceExt;

async fn ready(health: &Health) -> (StatusCode, Value) {
    let app: Router = harden(health.router(), HttpLimits::default());
    let response = app
        .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

#[tokio::test]
async fn a_store_that_answers_is_ready_and_listed() {
    let health = Health::new();
    health.check_store("event-store", Arc::new(InMemoryEventStore::new()));
    let (status, body) = ready(&health).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"], serde_json::json!(["event-store"]));
}

#[tokio::test]
async fn a_failing_check_makes_ready_503_naming_it_and_its_error() {
    let health = Health::new();
    let (_relay, relay_state) = WorkerStateReporter::new();
    health.watch("relay", relay_state);
    health.check("event-store", || async {
        Err::<(), _>("connection refused (os error 111)")
    });
    let (status, body) = ready(&health).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "dependency_unavailable", "{body}");
    assert_eq!(
        body["unavailable"]["event-store"],
        "connection refused (os error 111)"
    );
    assert!(
        body["message"].as_str().unwrap().contains("event-store"),
        "{body}"
    );
    assert_eq!(body["stopped"], serde_json::json!({}), "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_check_that_hangs_fails_after_the_check_timeout() {
    let health = Health::new();
    health.check("event-store", || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<(), String>(())
    });
    let (status, body) = ready(&health).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["unavailable"]["event-store"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{body}"
    );
}

#[tokio::test]
async fn a_stopped_worker_makes_ready_503_naming_it_beside_a_failing_check() {
    let health = Health::new();
    let (consumer, consumer_state) = WorkerStateReporter::new();
    let (_relay, relay_state) = WorkerStateReporter::new();
    health.watch("saga-consumer", consumer_state);
    health.watch("relay", relay_state);
    health.check("event-store", || async { Err::<(), _>("timed out") });
    consumer.finished(&Err::<(), _>("dead-letter topic refused offset 12"));
    let (status, body) = ready(&health).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "worker_stopped", "{body}");
    assert!(
        body["stopped"]["saga-consumer"]
            .as_str()
            .unwrap()
            .contains("offset 12"),
        "{body}"
    );
    assert!(body["stopped"].get("relay").is_none(), "{body}");
    assert_eq!(body["unavailable"]["event-store"], "timed out", "{body}");
}
