//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans go to that OTLP/HTTP receiver as
//! protobuf, under the service's name (`OTEL_SERVICE_NAME` when set), and `shutdown`
//! delivers the ones still queued: a SIGTERM loses none.
//!
//! Installs the global subscriber and sets environment variables: a test binary of its
//! own, with one test.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use service_kit::{harden, telemetry, HttpLimits};
use tokio::sync::mpsc;
use tower::ServiceExt;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

/// An OTLP/HTTP receiver: every decoded export request, as it arrives.
async fn receiver() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let (exports, received) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(exports): State<mpsc::UnboundedSender<ExportTraceServiceRequest>>,
                 body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let _ = exports.send(request);
                    StatusCode::OK
                },
            ),
        )
        .with_state(exports);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_http_and_flushed_at_shutdown() {
    let (endpoint, mut received) = receiver().await;
    std::env::remove_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    std::env::set_var("OTEL_SERVICE_NAME", "renamed-by-env");
    // Nothing leaves before the shutdown unless the shutdown flushes.
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "600000");
    let installed = telemetry::init("otlp-test").expect("installs");
    assert!(installed.exports_traces());

    let app = harden(
        Router::new().route("/things/{id}", get(|| async { "thing" })),
        HttpLimits::default(),
    );
    let request = Request::get("/things/7")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(request).await.unwrap().status(), StatusCode::OK);
    assert!(received.try_recv().is_err(), "exported before the shutdown");

    installed.shutdown().await.expect("flushes");
    let export = tokio::time::timeout(std::time::Duration::from_secs(5), received.recv())
        .await
        .expect("exported at shutdown")
        .expect("an export");
    let resource_spans = &export.resource_spans[0];
    let service_name = resource_spans
        .resource
        .as_ref()
        .expect("a resource")
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(
        service_name,
        Some(any_value::Value::StringValue("renamed-by-env".into()))
    );
    let spans: Vec<_> = resource_spans
        .scope_spans
        .iter()
        .flat_map(|scope| &scope.spans)
        .collect();
    let server = spans
        .iter()
        .find(|span| span.name == "GET /things/{id}")
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(hex(&server.trace_id), TRACE_ID);
    assert_eq!(hex(&server.parent_span_id), PARENT_ID);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
