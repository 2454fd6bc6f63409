//! The HTTP/JSON API (axum).
//!
//! Queries (both modes):
//! - `GET /sensors?limit=&cursor=`
//! - `GET /sensors/latest?window=1h`
//! - `GET /sensors/{id}/readings?from=&to=&limit=&cursor=`
//! - `GET /sensors/{id}/stats?from=&to=&bucket=30m`
//!
//! Ingest, embedded mode only (stand-ins for the Kafka topics, same validation):
//! - `POST /ingest/readings` (body: a device message)
//! - `POST /ingest/sensors` (body: sensor metadata)
//!
//! Health and metrics (both modes, from [`service_kit::Health`] and
//! `service_kit::metrics_endpoint`):
//! - `GET /health/live`, `GET /health/ready`
//! - `GET /metrics` (Prometheus)
//!
//! Every request runs in a server span (`GET /sensors/{id}/readings`, ...) continued from
//! its `traceparent` header (`service_kit::http_trace`).
//!
//! Malformed input gets 400 with `{"error", "message", "field"}`, data the database
//! refuses for good 422, an unavailable database 503, with a generic message (the driver's
//! text is logged, never sent). Every route is hardened by [`service_kit::harden`]: a body
//! limit (413), a request timeout (408), and JSON bodies for 404 and 405 too.

mod error;
mod ingest;
mod params;
mod readings;
mod sensors;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::{ApiError, ErrorBody};

use service_kit::{Health, HttpLimits};

#[cfg(doc)]
use crate::device::Limits;
use crate::ingest::Ingestor;
use crate::queries::SensorQueries;
use crate::store::SensorStore;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The query side.
    pub queries: SensorQueries,
    /// The ingest side, in embedded mode; `None` serves queries only.
    pub ingestor: Option<Ingestor>,
}

/// The name of the store's check in `/health/ready`.
pub const STORE_CHECK: &str = "sensor-store";

/// The API's routes over `state`, hardened ([`service_kit::harden`] with [`http_limits`]),
/// with `/health/live`, `/health/ready` (ready while the store answers
/// [`SensorStore::ping`]; no background workers) and
/// `GET /metrics`.
pub fn router(state: AppState) -> Router {
    router_with_health(state, &Health::new())
}

/// [`router`] whose `/health/ready` also reports the workers `health` watches (503 naming
/// a stopped one); the store's check [`STORE_CHECK`] is added to `health`.
pub fn router_with_health(state: AppState, health: &Health) -> Router {
    check_store(health, state.queries.store().clone());
    let limits = http_limits(&state);
    let mut router = Router::new()
        .route("/sensors", get(sensors::list))
        .route("/sensors/latest", get(sensors::latest))
        .route("/sensors/{id}/readings", get(readings::readings))
        .route("/sensors/{id}/stats", get(readings::stats));
    if state.ingestor.is_some() {
        router = router
            .route("/ingest/readings", post(ingest::readings))
            .route("/ingest/sensors", post(ingest::sensors))
            .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    }
    let router = router
        .with_state(state)
        .merge(health.router())
        .merge(service_kit::metrics_endpoint::router());
    service_kit::harden(router, limits)
}

/// Makes `health`'s readiness check that `store` answers
/// [`SensorStore::ping`], as [`STORE_CHECK`]. The reason
/// given is generic; the driver's text is logged, never sent (as for every other answer).
pub fn check_store(health: &Health, store: Arc<dyn SensorStore>) {
    health.check(STORE_CHECK, move || {
        let store = store.clone();
        async move {
            store.ping().await.map_err(|error| {
                tracing::warn!(%error, "readiness: the store does not answer");
                "the store does not answer (the error is logged)"
            })
        }
    });
}

/// The HTTP limits of a router over `state`: the default request timeout (10 s); bodies up
/// to twice the ingestor's [`Limits::max_message_bytes`] (2 MiB by default) when ingest is
/// on, so that a message somewhat over the limit still gets the validator's `oversized`
/// answer naming the limit, and 64 KiB otherwise (the query routes take no body). Larger
/// bodies get 413 before a handler runs.
pub fn http_limits(state: &AppState) -> HttpLimits {
    let max_body_bytes = match &state.ingestor {
        Some(ingestor) => ingestor.limits().max_message_bytes.saturating_mul(2),
        None => 64 * 1024,
    };
    HttpLimits {
        max_body_bytes,
        ..HttpLimits::default()
    }
}
