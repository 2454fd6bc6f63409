//! The server span of an HTTP request: named for its route template, continued from the
//! incoming `traceparent`, the parent of what the handler does, and exported even when
//! `RUST_LOG` keeps the logs at `warn`.
//!
//! Installs the global subscriber (with an in-memory exporter): a test binary of its own.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use cqrs_core::telemetry::trace_context;
use http_body_util::BodyExt;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use service_kit::telemetry::{Telemetry, WORKSPACE_TARGETS};
use service_kit::{harden, Health, HttpLimits};
use tower::ServiceExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

struct Installed {
    telemetry: Telemetry,
    spans: InMemorySpanExporter,
}

fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // The logs say nothing below warn; the export must not care.
        std::env::set_var("RUST_LOG", "warn");
        let spans = InMemorySpanExporter::default();
        let telemetry = Telemetry::builder("http-trace-test")
            .default_log_filter("warn")
            // This test crate's own spans stand for a library's `command` span.
            .trace_targets(WORKSPACE_TARGETS.iter().copied().chain(["http_trace"]))
            .span_exporter(spans.clone())
            .init()
            .expect("telemetry installs");
        assert!(telemetry.exports_traces());
        Installed { telemetry, spans }
    })
}

fn app() -> Router {
    let routes = Router::new()
        .route(
            "/orders/{id}/pay",
            post(|Path(id): Path<String>| async move {
                let command = tracing::info_span!("command", aggregate_id = %id);
                let _entered = command.enter();
                // A dependency's span: logged if RUST_LOG asks, never exported.
                tracing::info_span!(target: "sqlx::query", "dependency noise").in_scope(|| {});
                let trace_id = trace_context::current_trace_id().unwrap_or_default();
                (StatusCode::CREATED, trace_id)
            }),
        )
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .merge(Health::new().router());
    harden(routes, HttpLimits::default())
}

async fn send(request: Request<Body>) -> (StatusCode, String) {
    let response = app().oneshot(request).await.expect("router answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn finished() -> Vec<SpanData> {
    let installed = installed();
    installed.telemetry.force_flush().expect("flush");
    installed.spans.get_finished_spans().expect("spans")
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[tokio::test]
async fn the_server_span_continues_the_incoming_trace_and_parents_the_handlers_spans() {
    installed();
    let request = Request::post("/orders/o-17/pay")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .header("tracestate", "vendor=value")
        .body(Body::empty())
        .unwrap();
    let (status, handler_trace_id) = send(request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        handler_trace_id, TRACE_ID,
        "the handler runs inside the trace"
    );

    let trace_id = TraceId::from_hex(TRACE_ID).unwrap();
    let spans: Vec<SpanData> = finished()
        .into_iter()
        .filter(|span| span.span_context.trace_id() == trace_id)
        .collect();
    let server = spans
        .iter()
        .find(|span| span.span_kind == SpanKind::Server)
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(server.name, "POST /orders/{id}/pay");
    assert_eq!(server.parent_span_id, SpanId::from_hex(PARENT_ID).unwrap());
    assert!(server.parent_span_is_remote);
    assert_eq!(
        server.span_context.trace_state().header(),
        "vendor=value",
        "tracestate is carried on"
    );
    assert_eq!(
        attribute(server, "http.route"),
        Some(&Value::from("/orders/{id}/pay"))
    );
    assert_eq!(
        attribute(server, "http.request.method"),
        Some(&Value::from("POST"))
    );
    assert_eq!(
        attribute(server, "http.response.status_code"),
        Some(&Value::I64(201))
    );
    let command = spans
        .iter()
        .find(|span| span.name == "command")
        .unwrap_or_else(|| panic!("no command span in {spans:#?}"));
    assert_eq!(command.parent_span_id, server.span_context.span_id());
    assert!(
        !spans.iter().any(|span| span.name == "dependency noise"),
        "a dependency's span was exported: {spans:#?}"
    );
}

#[tokio::test]
async fn without_traceparent_the_request_starts_a_trace_and_a_5xx_is_an_error() {
    installed();
    let (status, _) = send(Request::get("/boom").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let spans = finished();
    let server = spans
        .iter()
        .find(|span| span.name == "GET /boom")
        .unwrap_or_else(|| panic!("no GET /boom span in {spans:#?}"));
    assert_eq!(server.parent_span_id, SpanId::INVALID);
    assert_ne!(
        server.span_context.trace_id(),
        TraceId::from_hex(TRACE_ID).unwrap()
    );
    assert!(
        matches!(server.status, opentelemetry::trace::Status::Error { .. }),
        "{:?}",
        server.status
    );
}

#[tokio::test]
async fn an_unknown_route_is_named_by_its_method_and_probes_are_not_traced() {
    installed();
    let (status, _) = send(Request::get("/health/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        Request::delete("/no/such/route")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let spans = finished();
    assert!(
        !spans.iter().any(|span| span.name.contains("/health")),
        "a probe was traced: {spans:#?}"
    );
    let unknown = spans
        .iter()
        .find(|span| span.name == "DELETE")
        .unwrap_or_else(|| panic!("no DELETE span in {spans:#?}"));
    assert_eq!(attribute(unknown, "http.route"), None);
    assert_eq!(
        attribute(unknown, "http.response.status_code"),
        Some(&Value::I64(404))
    );
}
