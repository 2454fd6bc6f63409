//! The HTTP/JSON API (axum).
//!
//! | Method and path | Does |
//! |---|---|
//! | `POST /products` `{"sku","name"}` | registers a product (201; 200 if identical again) |
//! | `POST /products/{sku}/stock` `{"qty"}` | receives stock |
//! | `GET /products/{sku}` | stock level: on hand, reserved, available |
//! | `DELETE /products/{sku}/reservations/{order_id}` | releases a reservation (typed outcome) |
//! | `GET /stock/low?threshold=` | products with fewer available units than the threshold |
//! | `GET /orders/{id}/allocation` | the inventory's decision about an order |
//! | `POST /orders` `{"order_id"?,"customer_id","items":[...]}` | embedded mode: places an order (202) |
//! | `POST /orders/{id}/cancel` `{"reason"?}` | embedded mode: cancels an order (its stock is released) |
//! | `GET /orders/{id}` | embedded mode: order status, lines, total and the inventory's decision |
//!
//! In services mode orders are placed, cancelled and read through the order service.
//!
//! | `GET /health/live`, `GET /health/ready` | liveness; readiness (503 naming a stopped worker or an event store that does not answer) |
//! | `GET /metrics` | Prometheus metrics (`service_kit::metrics_endpoint`) |
//!
//! Every request runs in a server span (`POST /products`, `GET /products/{sku}`, ...)
//! continued from its `traceparent` header (`service_kit::http_trace`).
//!
//! **Idempotency-Key** (the product commands: `POST /products`, `POST /products/{sku}/stock`,
//! `DELETE /products/{sku}/reservations/{order_id}`): the header's value names the command
//! (`service_kit::idempotency`); sending it again has no second effect and gets the first
//! answer, status and body (a refusal too); a key used for another product is 422
//! `idempotency_key_reused`; a malformed key 400 with `"field": "Idempotency-Key"`.
//!
//! **Read-your-writes**: the product commands' replies carry `"position"`; `GET
//! /products/{sku}` and `GET /stock/low` accept `?min_position=N` (or `X-Min-Position: N`)
//! and answer once the stock view has processed position `N`, waiting at most
//! [`ApiState::read_your_writes`] (2 s by default), else 503 `not_caught_up` with
//! `Retry-After`; a malformed value is 400 naming `min_position`.
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
use cqrs_core::worker::ProcessedPosition;
use service_kit::read_your_writes::ReadYourWrites;
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
    /// How far the stock view has processed the log (`InventorySystem::stock_position`,
    /// `InventoryServices::stock_position`), for `min_position`.
    pub stock_position: ProcessedPosition,
    /// How long a query waits for its `min_position`.
    pub read_your_writes: ReadYourWrites,
}

/// The API's routes with the health routes and `GET /metrics`, hardened (body limit,
/// timeout, JSON error bodies for 404/405/413/408, a server span per request).
pub fn router(state: ApiState) -> Router {
    let health = state.health.router();
    let hosts_orders = state.inventory.hosted_orders().is_some();
    let mut api = Router::new()
        .route("/products", post(products::register))
        .route("/products/{sku}", get(products::get))
        .route("/products/{sku}/stock", post(products::receive_stock))
        .route(
            "/products/{sku}/reservations/{order_id}",
            delete(products::release),
        )
        .route("/stock/low", get(products::low_stock))
        .route("/orders/{order_id}/allocation", get(orders::allocation));
    if hosts_orders {
        api = api
            .route("/orders", post(orders::place))
            .route("/orders/{order_id}", get(orders::get))
            .route("/orders/{order_id}/cancel", post(orders::cancel));
    }
    let api = api
        .with_state(state)
        .merge(health)
        .merge(service_kit::metrics_endpoint::router());
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
