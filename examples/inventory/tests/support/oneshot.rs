//! Calls the router in process (no socket): one request, the status and the JSON reply.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use inventory::http::{self, ApiState};
use inventory::InventorySystem;
use serde_json::Value;
use tower::ServiceExt;

/// The API of `system`.
pub fn router(system: &InventorySystem) -> axum::Router {
    http::router(ApiState {
        inventory: system.app.clone(),
        low_stock_threshold: 5,
        health: system.health.clone(),
    })
}

/// Sends `body` (raw bytes, `application/json`) and returns the status and the raw reply.
pub async fn send(api: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = api.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes.to_vec())
}

/// Like [`send`] with a JSON value (or no body); the reply parsed (`Null` when empty).
pub async fn call(
    api: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (status, reply) = send(api, method, uri, bytes).await;
    let value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
    (status, value)
}
