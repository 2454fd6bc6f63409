//! A process whose metrics recorder is not the Prometheus one: installing fails with a
//! clear error, never a panic, and `GET /metrics` says so with 503.
//!
//! Installs a global metrics recorder: a test binary of its own.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use metrics_util::debugging::DebuggingRecorder;
use service_kit::metrics_endpoint::{self, MetricsError};
use tower::ServiceExt;

#[tokio::test]
async fn another_recorder_makes_install_an_error_and_the_scrape_503() {
    DebuggingRecorder::new()
        .install()
        .expect("the first recorder installs");
    let error = metrics_endpoint::install().expect_err("a second recorder");
    assert!(matches!(error, MetricsError::OtherRecorder(_)), "{error}");
    assert!(
        error.to_string().contains("another metrics recorder"),
        "{error}"
    );

    let app: Router = metrics_endpoint::router();
    let response = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .expect("router answers");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"], "metrics_unavailable", "{body}");
}
