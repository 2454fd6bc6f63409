//! The hardened router answers every error with a JSON body, and readiness names a stopped
//! worker.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use cqrs_core::worker::WorkerStateReporter;
use http_body_util::BodyExt;
use service_kit::{harden, Health, HttpLimits};
use tower::ServiceExt;

fn app(health: &Health) -> Router {
    let limits = HttpLimits {
        max_body_bytes: 16,
        request_timeout: Duration::from_millis(200),
    };
    let routes = Router::new()
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .merge(health.router());
    harden(routes, limits)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{status} body is not JSON: {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

#[tokio::test]
async fn unknown_route_wrong_method_oversized_body_and_timeout_answer_json() {
    let app = app(&Health::new());
    let (status, body) = call(&app, "GET", "/nowhere", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = call(&app, "GET", "/echo", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let (status, body) = call(&app, "POST", "/echo", &"x".repeat(17)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (status, body) = call(&app, "GET", "/slow", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::REQUEST_TIMEOUT, Some("timeout"))
    );
}

#[tokio::test]
async fn a_body_within_the_limit_reaches_the_handler() {
    let app = app(&Health::new());
    let request = Request::builder()
        .method("POST")
        .uri("/echo")
        .body(Body::from("short"))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "short"
    );
}

#[tokio::test]
async fn readiness_names_the_worker_that_stopped_and_liveness_stays_up() {
    let health = Health::new();
    let (relay, relay_state) = WorkerStateReporter::new();
    let (_consumer, consumer_state) = WorkerStateReporter::new();
    health.watch("relay", relay_state);
    health.watch("consumer", consumer_state);
    let app = app(&health);
    let (status, body) = call(&app, "GET", "/health/ready", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    relay.finished(&Err::<(), _>(
        "publishing position 7 refused: MessageSizeTooLarge",
    ));
    let (status, body) = call(&app, "GET", "/health/ready", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["stopped"]["relay"]
            .as_str()
            .unwrap()
            .contains("position 7"),
        "{body}"
    );
    assert!(body["stopped"].get("consumer").is_none(), "{body}");
    let (status, _) = call(&app, "GET", "/health/live", "").await;
    assert_eq!(status, StatusCode::OK);
}
