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
//!
//! Malformed input is 400 with `{"error": "invalid_input", "field": ...}`; domain refusals
//! are 409 (state) or 422 (invalid order contents); unknown orders 404; infrastructure
//! failures 503.

mod error;
mod handlers;
mod json;
mod queries;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use cqrs_core::{EventStore, Repository};

pub use error::{ApiError, ErrorBody};
pub use json::ValidJson;
pub use queries::{QueryError, TierQueries};

use crate::domain::Order;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Command side.
    pub orders: Repository<Order, dyn EventStore>,
    /// Query side.
    pub tiers: Arc<dyn TierQueries>,
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", post(handlers::place))
        .route("/orders/{id}", get(handlers::get_order))
        .route("/orders/{id}/pay", post(handlers::pay))
        .route("/orders/{id}/cancel", post(handlers::cancel))
        .route("/orders/{id}/ship", post(handlers::ship))
        .route("/customers/{id}/items", get(handlers::customer_items))
        .with_state(state)
}

/// Serves `router` on `listener` until Ctrl-C (or `shutdown` resolves), finishing
/// in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
