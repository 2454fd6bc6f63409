//! The process's one metrics recorder and one tracing subscriber, each behind a switch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Turns the metrics recorder on and off.
pub struct MetricsSwitch {
    on: Arc<AtomicBool>,
}

impl MetricsSwitch {
    /// Installs the Prometheus recorder behind the switch, off, and a task that renders it
    /// every second as a scrape would.
    pub fn install() -> Self {
        let on = Arc::new(AtomicBool::new(false));
        let prometheus = PrometheusBuilder::new().build_recorder();
        let handle = prometheus.handle();
        metrics::set_global_recorder(Switched {
            on: on.clone(),
            inner: prometheus,
        })
        .expect("the bench's only recorder");
        tokio::spawn(scrape(handle));
        Self { on }
    }

    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }
}

/// Turns the span export on and off.
pub struct TraceSwitch {
    on: Arc<AtomicBool>,
    provider: SdkTracerProvider,
}

impl TraceSwitch {
    /// Installs a tracing subscriber whose only layer exports every span over OTLP/HTTP
    /// (protobuf, batch processor) to `endpoint`, off.
    pub fn install(endpoint: &str) -> Self {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_headers(Default::default())
            .build()
            .expect("OTLP exporter");
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build();
        let on = Arc::new(AtomicBool::new(false));
        let enabled = on.clone();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bench"))
            // Asked for each span, never cached per callsite (a callsite first met while off
            // would stay off).
            .with_filter(
                tracing_subscriber::filter::DynFilterFn::new(move |_, _| {
                    enabled.load(Ordering::Relaxed)
                })
                .with_callsite_filter(|_| tracing::subscriber::Interest::sometimes()),
            );
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the bench's only subscriber");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        Self { on, provider }
    }

    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }

    /// Waits until the spans of the last round are exported (outside the timed rounds).
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            eprintln!("  telemetry: span export failed: {error}");
        }
    }
}

/// Renders the metrics every second, as a Prometheus scrape would.
async fn scrape(handle: PrometheusHandle) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        every.tick().await;
        handle.run_upkeep();
        std::hint::black_box(handle.render());
    }
}

/// The Prometheus recorder while `on`, no-op handles otherwise.
struct Switched {
    on: Arc<AtomicBool>,
    inner: PrometheusRecorder,
}

impl Recorder for Switched {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_counter(key, metadata)
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_gauge(key, metadata)
        } else {
            Gauge::noop()
        }
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_histogram(key, metadata)
        } else {
            Histogram::noop()
        }
    }
}
