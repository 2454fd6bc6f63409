//! Why telemetry could not be installed or flushed.

use opentelemetry_sdk::error::OTelSdkError;

use crate::metrics_endpoint::MetricsError;

/// Installing or stopping [`Telemetry`](super::Telemetry) failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An OTLP endpoint variable is not an `http://` URL with a host (this build's
    /// exporter has no TLS: `https://` is refused too).
    #[error("{variable}=`{value}` is not a valid OTLP/HTTP endpoint ({reason}); set it to e.g. http://127.0.0.1:4318, or unset it to export no traces")]
    InvalidEndpoint {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The OTLP protocol asked for is not the one this build exports with.
    #[error("{variable}=`{value}` is not supported: this service exports OTLP over HTTP with protobuf (`http/protobuf`)")]
    UnsupportedProtocol {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// The OTLP exporter refused its configuration (headers, timeout, compression).
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global `tracing` subscriber was installed before.
    #[error("a global tracing subscriber is already installed: {0}")]
    SubscriberAlreadySet(String),
    /// The Prometheus recorder could not be installed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Exporting the queued spans failed or timed out.
    #[error("flushing the queued spans failed: {0}")]
    Flush(#[source] OTelSdkError),
}
