//! The server span of every HTTP request, continued from the caller's W3C trace context,
//! and its duration as a metric.
//!
//! [`trace_requests`] (installed on every route by [`harden`](crate::harden)) opens the span
//! `request` with the OpenTelemetry HTTP server conventions:
//!
//! | field | value |
//! |---|---|
//! | `otel.name` | `"<METHOD> <route template>"`, e.g. `POST /orders`, `GET /orders/{id}`; the method alone for a request no route matched |
//! | `otel.kind` | `server` |
//! | `http.request.method` | `POST` (`_OTHER` for a non-standard method) |
//! | `http.route` | `/orders/{id}` (absent when no route matched) |
//! | `http.response.status_code` | the answer's status |
//! | `otel.status_code` | `ERROR` for a 5xx answer |
//!
//! Its parent is the remote span named by the request's `traceparent` (and `tracestate`)
//! headers, when they carry a valid context and an OpenTelemetry layer is installed
//! ([`crate::telemetry`]); otherwise it starts a trace. The handler runs inside it, so the
//! command pipeline's `command` span is its child.
//!
//! The probes and the scrape ([`UNTRACED_ROUTES`]) get no span and no metric: they would
//! bury the requests worth looking at.
//!
//! Each traced request's duration is recorded in the histogram
//! [`HTTP_REQUEST_DURATION_SECONDS`] (labels `method`, `route`, `status`).

use std::time::Instant;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{HeaderMap, Method, Request};
use axum::middleware::Next;
use axum::response::Response;
use cqrs_core::telemetry::trace_context::{self, Extractor};
use tracing::field::Empty;
use tracing::Instrument;

/// Histogram: one HTTP request, from its arrival to its answer (`method`, `route`,
/// `status`), in seconds. `route` is the route template (`/orders/{id}`), or `unmatched`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_server_request_duration_seconds";

/// Routes served without a span or a metric: the health probes and the metrics scrape.
pub const UNTRACED_ROUTES: &[&str] = &["/health/live", "/health/ready", "/metrics"];

/// The method's name for spans and labels: one of the standard methods, or `_OTHER` (as
/// the OpenTelemetry conventions say), so that made-up methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// A request's headers as the carrier of the W3C trace context.
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// Middleware (`axum::middleware::from_fn(trace_requests)`, applied with `Router::layer`
/// so that the route template is known): runs the request inside its server span; see
/// the [module](self) documentation.
pub async fn trace_requests(request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    if route
        .as_deref()
        .is_some_and(|route| UNTRACED_ROUTES.contains(&route))
    {
        return next.run(request).await;
    }
    let method = method_label(request.method());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route.as_deref(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    trace_context::continue_from(&span, &HeaderExtractor(request.headers()));
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        "method" => method,
        "route" => route.unwrap_or_else(|| "unmatched".to_owned()),
        "status" => status.as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}
