//! `GET /metrics`: every metric recorded through the [`metrics`] facade, in the
//! Prometheus text format (0.0.4).
//!
//! [`install`] sets the process's global recorder once (`metrics-exporter-prometheus`)
//! and returns its handle; every later call returns the same handle, so that several
//! services built in one process (tests) share it. Histograms whose name ends in
//! `_duration_seconds` (the libraries' command, load and append durations, and
//! [`HTTP_REQUEST_DURATION_SECONDS`](crate::http_trace::HTTP_REQUEST_DURATION_SECONDS)) are
//! rendered as Prometheus histograms with the buckets [`DURATION_BUCKETS`]; a thread runs
//! the recorder's upkeep every [`UPKEEP_INTERVAL`].
//!
//! The metrics, their kinds and labels: `cqrs_core::telemetry::metric`.
//!
//! ```
//! use axum::Router;
//!
//! let app: Router = Router::new().merge(service_kit::metrics_endpoint::router());
//! metrics::counter!("demo_total").increment(1);
//! let text = service_kit::metrics_endpoint::install().unwrap().render();
//! assert!(text.contains("demo_total 1"));
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

/// The path the metrics are served on.
pub const PATH: &str = "/metrics";

/// Upper bounds (seconds) of the buckets of every `*_duration_seconds` histogram: from half
/// a millisecond (an in-memory append) to 10 s (the request timeout).
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the recorder's upkeep (draining histogram samples) runs.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetricsError {
    /// Another recorder (not this module's) was installed in this process first.
    #[error("cannot install the Prometheus metrics recorder: another metrics recorder is installed in this process ({0})")]
    OtherRecorder(String),
    /// The recorder's configuration was refused (a bucket list).
    #[error("cannot configure the Prometheus metrics recorder: {0}")]
    Configuration(String),
}

static RECORDER: OnceLock<Result<PrometheusHandle, MetricsError>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's global `metrics` recorder, the first
/// time; every call returns the same handle (or the same error). Never panics.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    RECORDER.get_or_init(install_once).clone()
}

fn install_once() -> Result<PrometheusHandle, MetricsError> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".into()),
            DURATION_BUCKETS,
        )
        .map_err(|error| MetricsError::Configuration(error.to_string()))?;
    let handle = builder
        .install_recorder()
        .map_err(|error| MetricsError::OtherRecorder(error.to_string()))?;
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("prometheus-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            upkeep.run_upkeep();
        });
    if let Err(error) = spawned {
        // Rendering drains the histograms too; only memory between scrapes grows.
        tracing::warn!(%error, "cannot start the metrics upkeep thread");
    }
    Ok(handle)
}

/// The `GET /metrics` route ([`install`]ing the recorder if it is not yet), to merge into
/// a service's router. When another recorder is installed it answers 503 with a JSON
/// body saying so.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    if let Err(error) = install() {
        tracing::warn!(%error, "GET /metrics will answer 503");
    }
    Router::new().route(PATH, get(render))
}

async fn render() -> Response {
    match install() {
        Ok(handle) => {
            let mut response = handle.render().into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "metrics_unavailable", "message": error.to_string() })),
        )
            .into_response(),
    }
}
