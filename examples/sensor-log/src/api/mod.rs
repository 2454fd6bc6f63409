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
//! Malformed input gets 400 with `{"error", "message", "field"}`; a store failure 503.

mod error;
mod ingest;
mod params;
mod readings;
mod sensors;

use std::future::Future;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

pub use error::{ApiError, ErrorBody};

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

/// The API's routes over `state`.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/sensors", get(sensors::list))
        .route("/sensors/latest", get(sensors::latest))
        .route("/sensors/{id}/readings", get(readings::readings))
        .route("/sensors/{id}/stats", get(readings::stats));
    if state.ingestor.is_some() {
        router = router
            .route("/ingest/readings", post(ingest::readings))
            .route("/ingest/sensors", post(ingest::sensors))
            // Oversized bodies reach the validator, which names the limit.
            .layer(DefaultBodyLimit::max(
                Limits::default().max_message_bytes * 2,
            ));
    }
    router
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight
/// requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
