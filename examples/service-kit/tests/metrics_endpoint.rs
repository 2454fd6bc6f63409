//! `GET /metrics` renders what was recorded through the `metrics` facade, in the
//! Prometheus text format, with the durations as histograms; installing twice is the same
//! recorder.
//!
//! Installs the global metrics recorder: a test binary of its own.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use service_kit::{harden, metrics_endpoint, HttpLimits};
use tower::ServiceExt;

fn app() -> Router {
    let routes = Router::new()
        .route("/orders/{id}/pay", post(|| async { StatusCode::CREATED }))
        .merge(metrics_endpoint::router());
    harden(routes, HttpLimits::default())
}

async fn send(app: &Router, method: &str, uri: &str) -> (StatusCode, Option<String>, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn metrics_recorded_through_the_facade_are_scraped_as_prometheus_text() {
    let app = app();
    metrics::counter!(cqrs_core::telemetry::metric::COMMAND_CONFLICTS_TOTAL, "aggregate" => "Order")
        .increment(3);
    metrics::histogram!(
        cqrs_core::telemetry::metric::COMMAND_DURATION_SECONDS,
        "aggregate" => "Order",
        "outcome" => "committed"
    )
    .record(0.003);
    for _ in 0..2 {
        assert_eq!(
            send(&app, "POST", "/orders/o-1/pay").await.0,
            StatusCode::CREATED
        );
    }

    let (status, content_type, text) = send(&app, "GET", "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        content_type.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        text.contains(r#"cqrs_command_conflicts_total{aggregate="Order"} 3"#),
        "{text}"
    );
    // A histogram with the duration buckets, not a summary.
    assert!(
        text.contains("# TYPE cqrs_command_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"cqrs_command_duration_seconds_bucket{aggregate="Order",outcome="committed",le="0.0025"} 0"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"cqrs_command_duration_seconds_bucket{aggregate="Order",outcome="committed",le="0.005"} 1"#
        ),
        "{text}"
    );
    // Each request's duration by route template; the scrape itself is not counted.
    assert!(
        text.contains(
            r#"http_server_request_duration_seconds_count{method="POST",route="/orders/{id}/pay",status="201"} 2"#
        ),
        "{text}"
    );
    assert!(!text.contains(r#"route="/metrics""#), "{text}");
}

#[test]
fn installing_again_returns_the_same_recorder() {
    let first = metrics_endpoint::install().expect("installs");
    let again = metrics_endpoint::install().expect("installs again");
    metrics::counter!("installed_twice_total").increment(1);
    assert!(first.render().contains("installed_twice_total 1"));
    assert!(again.render().contains("installed_twice_total 1"));
}
