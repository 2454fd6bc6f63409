//! `telemetry::init` without an OTLP endpoint installs logs and metrics but no
//! OpenTelemetry layer; an invalid endpoint is an error that installs nothing.
//!
//! Installs the global subscriber and sets environment variables: a test binary of its
//! own, with one test.

use std::collections::BTreeMap;

use cqrs_core::telemetry::trace_context::{self, HeaderCarrier};
use service_kit::telemetry::{self, TelemetryError};

#[tokio::test]
async fn an_invalid_endpoint_fails_and_no_endpoint_installs_no_opentelemetry_layer() {
    for variable in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ] {
        std::env::remove_var(variable);
    }

    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger:4318");
    let error = telemetry::init("init-test").expect_err("no scheme");
    assert!(
        matches!(
            error,
            TelemetryError::InvalidEndpoint {
                variable: "OTEL_EXPORTER_OTLP_ENDPOINT",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("jaeger:4318"), "{error}");

    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    let error = telemetry::init("init-test").expect_err("grpc is not built in");
    assert!(
        matches!(error, TelemetryError::UnsupportedProtocol { .. }),
        "{error}"
    );

    // Nothing was installed by the failures: this one installs.
    std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    std::env::remove_var("OTEL_EXPORTER_OTLP_PROTOCOL");
    let installed = telemetry::init("init-test").expect("installs without an endpoint");
    assert!(!installed.exports_traces());

    // Spans are recorded (for the logs) but carry no OpenTelemetry context.
    let span = tracing::info_span!(target: "service_kit", "request");
    let _entered = span.enter();
    assert_eq!(trace_context::current_trace_id(), None);
    let mut headers = BTreeMap::new();
    assert!(!trace_context::inject_current(&mut HeaderCarrier(
        &mut headers
    )));
    assert!(headers.is_empty(), "{headers:?}");

    // The metrics recorder is the one /metrics renders.
    metrics::counter!("init_test_total").increment(2);
    let scraped = service_kit::metrics_endpoint::install().expect("same recorder");
    assert!(scraped.render().contains("init_test_total 2"));
    assert!(installed
        .prometheus()
        .render()
        .contains("init_test_total 2"));

    // A second subscriber is refused, not a panic.
    let error = telemetry::init("init-test").expect_err("already installed");
    assert!(
        matches!(error, TelemetryError::SubscriberAlreadySet(_)),
        "{error}"
    );
    installed.shutdown().await.expect("nothing to flush");
}
