//! Limits on every route, JSON bodies for the errors axum answers on its own, and the
//! request's server span ([`crate::http_trace`]).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::http_trace::trace_requests;

/// How much a request may send and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body, in bytes; larger ones get 413 before a handler runs.
    /// Default 1 MiB.
    pub max_body_bytes: usize,
    /// Longest a request may take, body upload included; slower ones get 408. Default 10 s.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// `router` with `limits` on every route, a JSON 404 for unknown routes, JSON bodies
/// `{"error": ..., "message": ...}` for every error answer that has none (405 wrong
/// method, 413 body too large, 408 timeout, ...), and every request run inside its server
/// span, continued from its `traceparent` header ([`trace_requests`]).
///
/// ```
/// use axum::{routing::get, Router};
/// use service_kit::{harden, HttpLimits};
///
/// let app: Router = harden(Router::new().route("/", get(|| async { "hi" })), HttpLimits::default());
/// ```
pub fn harden(router: Router, limits: HttpLimits) -> Router {
    router
        .fallback(unknown_route)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        // Outside the limits, so that the limit and timeout answers get their JSON body too.
        .layer(middleware::from_fn(json_error_bodies))
        // Outermost: the span covers the whole request and records the final status.
        .layer(middleware::from_fn(trace_requests))
}

async fn unknown_route(request: Request<Body>) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "message": message })),
    )
        .into_response()
}

/// Gives every error response without a JSON body one that names the status.
async fn json_error_bodies(request: Request<Body>, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (error, message) = describe(status);
    let mut replaced =
        (status, Json(json!({ "error": error, "message": message }))).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    replaced
}

fn describe(status: StatusCode) -> (&'static str, String) {
    match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource".into()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than this service accepts".into(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            "the request took longer than this service allows".into(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as application/json".into(),
        ),
        other if other.is_server_error() => ("unavailable", "the service failed to answer".into()),
        other => (
            "invalid_request",
            other.canonical_reason().unwrap_or("refused").to_owned(),
        ),
    }
}
