//! Logs, traces and metrics for a service, installed once at start by [`init`] (or
//! [`Telemetry::builder`]).
//!
//! - **Logs**: `tracing` events to stderr, filtered by `RUST_LOG` (the service's own
//!   default when it is unset or invalid), as every example always did.
//! - **Traces**, only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: a `tracing-opentelemetry` layer exports
//!   the spans of this workspace's crates at INFO and above, whatever `RUST_LOG` says, over
//!   OTLP/HTTP (protobuf) through a batch processor, and W3C trace context
//!   (`traceparent`/`tracestate`) is the global propagator. The standard variables apply:
//!   `OTEL_SERVICE_NAME` overrides the service's name, `OTEL_RESOURCE_ATTRIBUTES`,
//!   `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_SCHEDULE_DELAY`,
//!   `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_EXPORT_TIMEOUT`
//!   are read by the SDK; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` switch
//!   export off. An endpoint that is not an `http://` URL (the exporter is built without
//!   TLS: send to a collector or agent beside the service), or a protocol other than
//!   `http/protobuf`, is a start-up error.
//! - **Metrics**: the Prometheus recorder ([`crate::metrics_endpoint::install`]), rendered
//!   by `GET /metrics`.
//!
//! The returned [`Telemetry`] must live until the service stops: its
//! [`shutdown`](Telemetry::shutdown) flushes the spans still queued (call it after the
//! graceful stop, so that a SIGTERM loses none); dropping it does the same, blocking.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = service_kit::telemetry::Telemetry::builder("inventory")
//!     .default_log_filter("warn")
//!     .init()?;
//! // ... serve until SIGTERM ...
//! telemetry.shutdown().await?;
//! # Ok(()) }
//! ```

mod error;
mod otlp;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub use error::TelemetryError;

use crate::metrics_endpoint;

/// The crates whose spans are exported by default: this workspace's libraries and example
/// services (the HTTP request span is `service_kit`'s). Dependencies' spans (sqlx, rdkafka,
/// hyper, ...) are not exported.
pub const WORKSPACE_TARGETS: &[&str] = &[
    "cqrs_core",
    "cqrs_postgres",
    "cqrs_mongo",
    "cqrs_kafka",
    "service_kit",
    "order",
    "inventory",
    "sensor_log",
];

/// Installs the telemetry of `service_name` with the log filter `info` when `RUST_LOG` is
/// unset: [`Telemetry::builder`]`(service_name).init()`.
pub fn init(service_name: &'static str) -> Result<Telemetry, TelemetryError> {
    Telemetry::builder(service_name).init()
}

/// How [`Telemetry`] is installed; from [`Telemetry::builder`].
pub struct TelemetryBuilder {
    service_name: &'static str,
    default_log_filter: String,
    trace_targets: Vec<String>,
    exporter: Option<Box<dyn FnOnce() -> SdkTracerProvider + Send>>,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("service_name", &self.service_name)
            .field("default_log_filter", &self.default_log_filter)
            .field("trace_targets", &self.trace_targets)
            .field("custom_exporter", &self.exporter.is_some())
            .finish()
    }
}

impl TelemetryBuilder {
    /// The log filter (an `EnvFilter` directive such as `warn` or `info,sqlx=warn`) used
    /// when `RUST_LOG` is unset or invalid. Default `info`. Logs only: trace export has its
    /// own filter ([`trace_targets`](Self::trace_targets)).
    pub fn default_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.default_log_filter = directives.into();
        self
    }

    /// The crates (tracing targets) whose spans and events at INFO and above are
    /// exported. Default [`WORKSPACE_TARGETS`].
    pub fn trace_targets<I, T>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.trace_targets = targets.into_iter().map(Into::into).collect();
        self
    }

    /// Exports spans to `exporter` (through a batch processor) instead of OTLP, whatever
    /// the environment says: for tests, with an in-memory exporter.
    pub fn span_exporter(mut self, exporter: impl SpanExporter + 'static) -> Self {
        let service_name = self.service_name;
        self.exporter = Some(Box::new(move || provider(service_name, exporter)));
        self
    }

    /// Installs the global `tracing` subscriber (logs, and trace export when configured),
    /// the W3C trace-context propagator when exporting, and the Prometheus recorder.
    ///
    /// Fails when the OTLP settings are invalid (checked before anything is installed),
    /// when another metrics recorder is installed, or when a global subscriber is.
    pub fn init(self) -> Result<Telemetry, TelemetryError> {
        let mut endpoint = None;
        let provider = match self.exporter {
            Some(build) => Some(build()),
            None => match otlp::configured_endpoint()? {
                Some((variable, value)) => {
                    endpoint = Some(format!("{variable}={value}"));
                    Some(provider(self.service_name, otlp::span_exporter()?))
                }
                None => None,
            },
        };
        let log_filter = EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&self.default_log_filter))
            .unwrap_or_else(|_| EnvFilter::new("info"));
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(log_filter);
        let traces = provider.as_ref().map(|provider| {
            let targets = Targets::new().with_targets(
                self.trace_targets
                    .iter()
                    .map(|target| (target.clone(), Level::INFO)),
            );
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("cqrs-rs"))
                .with_filter(targets)
        });
        let prometheus = metrics_endpoint::install()?;
        tracing_subscriber::registry()
            .with(traces)
            .with(logs)
            .try_init()
            .map_err(|error| TelemetryError::SubscriberAlreadySet(error.to_string()))?;
        if let Some(provider) = &provider {
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        if let Some(endpoint) = endpoint {
            tracing::info!(service = self.service_name, %endpoint, "exporting traces over OTLP/HTTP");
        }
        Ok(Telemetry {
            provider,
            prometheus,
        })
    }
}

/// A tracer provider exporting to `exporter` in batches, with the service's resource.
fn provider(
    service_name: &'static str,
    exporter: impl SpanExporter + 'static,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(service_name))
        .build()
}

/// The resource from `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`, with `service_name`
/// when neither names the service.
fn resource(service_name: &'static str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(service_name).build()
    }
}

/// The installed telemetry. Keep it until the service stops, then
/// [`shutdown`](Self::shutdown) it to flush the spans still queued.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
}

impl Telemetry {
    /// Telemetry for `service_name`, to configure and [`init`](TelemetryBuilder::init).
    pub fn builder(service_name: &'static str) -> TelemetryBuilder {
        TelemetryBuilder {
            service_name,
            default_log_filter: "info".into(),
            trace_targets: WORKSPACE_TARGETS.iter().map(|t| (*t).to_owned()).collect(),
            exporter: None,
        }
    }

    /// Whether spans are exported (an OTLP endpoint is configured, or an exporter given).
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// The Prometheus recorder's handle (what `GET /metrics` renders).
    pub fn prometheus(&self) -> &metrics_exporter_prometheus::PrometheusHandle {
        &self.prometheus
    }

    /// Exports every span ended so far, blocking the calling thread until the exporter
    /// answers: on a Tokio runtime call it from a blocking thread (`spawn_blocking`), or use
    /// [`shutdown`](Self::shutdown) at the end.
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        match &self.provider {
            Some(provider) => provider.force_flush().map_err(TelemetryError::Flush),
            None => Ok(()),
        }
    }

    /// Exports the spans still queued and stops the exporter (within the SDK's 5 s), on a
    /// blocking thread. Call it once the graceful stop is over.
    pub async fn shutdown(mut self) -> Result<(), TelemetryError> {
        let Some(provider) = self.provider.take() else {
            return Ok(());
        };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(flushed) => flushed.map_err(TelemetryError::Flush),
            Err(error) => Err(TelemetryError::Flush(OTelSdkError::InternalFailure(
                error.to_string(),
            ))),
        }
    }
}

impl Drop for Telemetry {
    /// A `Telemetry` dropped without [`shutdown`](Self::shutdown) (an early return, a
    /// panic) still flushes its spans, on a thread of its own (within the SDK's 5 s) that
    /// the dropping thread waits for: safe from any context, a runtime's worker included.
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let flushed = std::thread::Builder::new()
                .name("otel-flush".into())
                .spawn(move || provider.shutdown())
                .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))
                .and_then(|flush| {
                    flush.join().unwrap_or_else(|_| {
                        Err(OTelSdkError::InternalFailure("the flush panicked".into()))
                    })
                });
            if let Err(error) = flushed {
                tracing::warn!(%error, "flushing the spans at exit failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_is_named_for_the_service_unless_the_environment_names_it() {
        if std::env::var_os("OTEL_SERVICE_NAME").is_some()
            || std::env::var_os("OTEL_RESOURCE_ATTRIBUTES").is_some()
        {
            return; // named by the environment: the override is tested in tests/otlp_export.rs
        }
        let name = resource("order")
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|value| value.as_str().into_owned());
        assert_eq!(name.as_deref(), Some("order"));
    }
}
