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
//! Health (both modes, from [`service_kit::Health`]):
//! - `GET /health/live`, `GET /health/ready`
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

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::{ApiError, ErrorBody};

use service_kit::{Health, HttpLimits};

#[cfg(doc)]
use crate::device::Limits;
use crate::ingest::Ingestor;
use crate::queries::SensorQueries;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The query side.
    pub queries: SensorQueries,
    /// The ingest side, in embedded mode; `None` serves queries only.
    pub ingestor: Option<Ingestor>,
}

/// The API's routes over `state`, hardened ([`service_kit::harden`] with [`http_limits`]),
/// with `/health/live` and `/health/ready` answering ready (no background workers).
pub fn router(state: AppState) -> Router {
    router_with_health(state, &Health::new())
}

/// [`router`] whose `/health/ready` reports the workers `health` watches (503 naming a
/// stopped one).
pub fn router_with_health(state: AppState, health: &Health) -> Router {
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
    let router = router.with_state(state).merge(health.router());
    service_kit::harden(router, limits)
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
