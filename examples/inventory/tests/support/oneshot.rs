//! Calls the router in process (no socket): one request, the status and the JSON reply.

use inventory::http::{self, ApiState};
use inventory::InventorySystem;
use serde_json::Value;

/// The API of `system`.
pub fn router(system: &InventorySystem) -> axum::Router {
    http::router(ApiState {
        inventory: system.app.clone(),
        low_stock_threshold: 5,
        health: system.health.clone(),
        stock_position: system.stock_position(),
        read_your_writes: Default::default(),
    })
}

/// Sends `body` (raw bytes, `application/json`) and returns the status and the raw reply.
pub async fn send(api: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let (status, reply) = service_kit::testing::oneshot::send_bytes(api, method, uri, body).await;
    (status.as_u16(), reply)
}

/// Like [`send`] with a JSON value (or no body); the reply parsed (`Null` when empty).
pub async fn call(
    api: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, reply) = service_kit::testing::oneshot::call(api, method, uri, body).await;
    (status.as_u16(), reply)
}
