//! The HTTP/JSON API (axum).
//!
//! | Method and path | Does |
//! |---|---|
//! | `POST /products` `{"sku","name"}` | registers a product (201; 200 if identical again) |
//! | `POST /products/{sku}/stock` `{"qty"}` | receives stock |
//! | `GET /products/{sku}` | stock level: on hand, reserved, available |
//! | `DELETE /products/{sku}/reservations/{order_id}` | releases a reservation (typed outcome) |
//! | `GET /stock/low?threshold=` | products with fewer available units than the threshold |
//! | `POST /orders` `{"order_id"?,"customer_id","items":[...]}` | places an order (202) |
//! | `POST /orders/{id}/cancel` `{"reason"?}` | cancels an order (its stock is released) |
//! | `GET /orders/{id}` | order status, lines, total and the inventory's decision |
//!
//! | `GET /health/live`, `GET /health/ready` | liveness; readiness (503 naming a stopped worker) |
//!
//! Errors are JSON `{"error": code, "message": ..., "field"?: ...}`; see [`ApiError`]. Every
//! route has a 1 MiB body limit (413) and a 10 s timeout (408); unknown routes answer 404 and
//! wrong methods 405, all with that JSON body (`service_kit::harden`).

mod error;
mod input;
mod orders;
mod products;

use std::future::Future;

use axum::routing::{delete, get, post};
use axum::Router;
use service_kit::{Health, HttpLimits};
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::app::Inventory;

/// Shared by the request handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The application.
    pub inventory: Inventory,
    /// The default threshold of `GET /stock/low`.
    pub low_stock_threshold: u64,
    /// The background workers `GET /health/ready` reports on.
    pub health: Health,
}

/// The API's routes with the health routes, hardened (body limit, timeout, JSON error
/// bodies for 404/405/413/408).
pub fn router(state: ApiState) -> Router {
    let health = state.health.router();
    let api = Router::new()
        .route("/products", post(products::register))
        .route("/products/{sku}", get(products::get))
        .route("/products/{sku}/stock", post(products::receive_stock))
        .route(
            "/products/{sku}/reservations/{order_id}",
            delete(products::release),
        )
        .route("/stock/low", get(products::low_stock))
        .route("/orders", post(orders::place))
        .route("/orders/{order_id}", get(orders::get))
        .route("/orders/{order_id}/cancel", post(orders::cancel))
        .with_state(state)
        .merge(health);
    service_kit::harden(api, HttpLimits::default())
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "inventory API listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
