//! The HTTP/JSON API (axum): commands and queries.
//!
//! | method | path | |
//! |---|---|---|
//! | POST | `/orders` | place an order (201; 200 for an identical repeat) |
//! | POST | `/orders/{id}/pay` | pay |
//! | POST | `/orders/{id}/cancel` | cancel, body `{"reason": "..."}` |
//! | POST | `/orders/{id}/ship` | ship a paid order |
//! | GET | `/orders/{id}` | status, lines, totals |
//! | GET | `/customers/{id}/items?tier=` | items by price tier |
//! | GET | `/health/live`, `/health/ready` | liveness; readiness (503 naming a stopped worker or an event store that does not answer) |
//! | GET | `/metrics` | Prometheus metrics (`service_kit::metrics_endpoint`) |
//!
//! Every request runs in a server span `POST /orders`, `GET /orders/{id}`, ..., continued
//! from its `traceparent` header (`service_kit::http_trace`).
//!
//! **Idempotency-Key** (every POST): the header's value names the command
//! (`service_kit::idempotency`); sending it again has no second effect and gets the first
//! answer, status and body (a refusal too); a key used for another order is 422
//! `idempotency_key_reused`; a malformed key 400 with `"field": "Idempotency-Key"`.
//!
//! **Read-your-writes**: every command reply has `"position"`; both GETs accept
//! `?min_position=N` (or `X-Min-Position: N`) and answer once their source has processed
//! position `N` (the price-tier view; the event store for `/orders/{id}`), waiting at most
//! [`AppState::read_your_writes`] (2 s by default), else 503 `not_caught_up` with
//! `Retry-After`; a malformed value is 400 naming `min_position` (`service_kit::read_your_writes`).
//!
//! Malformed input is 400 with `{"error": "invalid_input", "field": ...}`; domain refusals
//! are 409 (state) or 422 (invalid order contents, with `field`, or input the event store
//! refuses); unknown orders and routes 404; a wrong method 405; a body over 1 MiB 413; a
//! request over 10 s 408; infrastructure failures 503 with a generic message. Every error
//! answer is a JSON `{"error", "message"}`.

mod error;
mod handlers;
mod json;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use cqrs_core::worker::ProcessedPosition;
use cqrs_core::{EventStore, Repository};
use service_kit::read_your_writes::ReadYourWrites;

pub use error::{ApiError, ErrorBody};
pub use json::{ValidJson, MAX_BODY_BYTES};

use service_kit::{Health, HttpLimits};

use crate::domain::Order;
use crate::views::TierQueries;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Command side.
    pub orders: Repository<Order, dyn EventStore>,
    /// Query side.
    pub tiers: Arc<dyn TierQueries>,
    /// How far the price-tier view has processed the log (its projection runner's
    /// checkpoint, or its Kafka consumer's processed position).
    pub tiers_position: ProcessedPosition,
    /// How far the event store's log is committed: `GET /orders/{id}` reads from it.
    pub orders_position: ProcessedPosition,
    /// How long a query waits for its `min_position`.
    pub read_your_writes: ReadYourWrites,
    /// The background workers `/health/ready` reports on.
    pub health: Health,
}

/// The API's routes, with the health routes and `GET /metrics`, a body limit of
/// [`MAX_BODY_BYTES`], a 10 s request timeout, JSON bodies for every error answer and a
/// server span per request (`service_kit::harden`).
pub fn router(state: AppState) -> Router {
    let limits = HttpLimits {
        max_body_bytes: json::MAX_BODY_BYTES,
        ..HttpLimits::default()
    };
    let health = state.health.router();
    let api = Router::new()
        .route("/orders", post(handlers::place))
        .route("/orders/{id}", get(handlers::get_order))
        .route("/orders/{id}/pay", post(handlers::pay))
        .route("/orders/{id}/cancel", post(handlers::cancel))
        .route("/orders/{id}/ship", post(handlers::ship))
        .route("/customers/{id}/items", get(handlers::customer_items))
        .with_state(state)
        .merge(health)
        .merge(service_kit::metrics_endpoint::router());
    service_kit::harden(api, limits)
}
