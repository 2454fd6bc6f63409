//! The command pipeline's spans (`command` → `load`, `append`) join the caller's trace,
//! and the appended events carry the `append` span's W3C trace context in their metadata
//! so that whoever handles them continues the trace.

mod support;

use std::sync::Arc;

use cqrs_core::telemetry::trace_context::{self, TRACEPARENT};
use cqrs_core::{EventStore, InMemoryEventStore, Repository};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use support::*;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no `{name}` span among {:?}", names(spans)))
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_ref()).collect()
}

#[test]
fn the_events_of_a_traced_command_carry_its_append_span_as_their_trace_parent() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let store = Arc::new(InMemoryEventStore::new());
    let (events, request_trace) = tracing::subscriber::with_default(subscriber, || {
        runtime().block_on(async {
            let tabs = Repository::<Tab, _>::new(store.clone());
            let request = tracing::info_span!("POST /tabs");
            let trace_id = async { trace_context::current_trace_id() }
                .instrument(request.clone())
                .await
                .expect("the layer records the request span");
            tabs.execute(open("traced", 10))
                .instrument(request)
                .await
                .unwrap();
            (store.read_all(1, 10).await.unwrap(), trace_id)
        })
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let request = span(&spans, "POST /tabs");
    let command = span(&spans, "command");
    let load = span(&spans, "load");
    let append = span(&spans, "append");
    assert_eq!(request.span_context.trace_id().to_string(), request_trace);
    for child in [command, load, append] {
        assert_eq!(
            child.span_context.trace_id(),
            request.span_context.trace_id()
        );
    }
    assert_eq!(command.parent_span_id, request.span_context.span_id());
    assert_eq!(load.parent_span_id, command.span_context.span_id());
    assert_eq!(append.parent_span_id, command.span_context.span_id());

    let [event] = events.as_slice() else {
        panic!("one event, got {events:?}")
    };
    let traceparent = &event.metadata.headers[TRACEPARENT];
    assert_eq!(
        traceparent,
        &format!(
            "00-{}-{}-01",
            append.span_context.trace_id(),
            append.span_context.span_id()
        )
    );
}

#[test]
fn without_an_opentelemetry_layer_no_trace_context_is_stored() {
    let store = Arc::new(InMemoryEventStore::new());
    let subscriber = tracing_subscriber::registry();
    let events = tracing::subscriber::with_default(subscriber, || {
        runtime().block_on(async {
            let tabs = Repository::<Tab, _>::new(store.clone());
            tabs.execute(open("untraced", 10))
                .instrument(tracing::info_span!("request"))
                .await
                .unwrap();
            store.read_all(1, 10).await.unwrap()
        })
    });
    assert!(
        events[0].metadata.headers.is_empty(),
        "{:?}",
        events[0].metadata
    );
}

/// Opens its own span for each event it applies.
struct Traced;

#[async_trait::async_trait]
impl cqrs_core::Projection for Traced {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "traced-view"
    }
    async fn apply(&mut self, _: &cqrs_core::RecordedEvent) -> Result<(), Self::Error> {
        let _span = tracing::info_span!("view update").entered();
        Ok(())
    }
    async fn reset(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn persistence(&self) -> cqrs_core::Persistence {
        cqrs_core::Persistence::InMemory
    }
}

#[test]
fn a_projection_runner_applies_a_traced_event_in_a_span_continued_from_it() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let store = Arc::new(InMemoryEventStore::new());
    tracing::subscriber::with_default(subscriber, || {
        runtime().block_on(async {
            let tabs = Repository::<Tab, _>::new(store.clone());
            tabs.execute(open("projected", 10))
                .instrument(tracing::info_span!("POST /tabs"))
                .await
                .unwrap();
            // Applied outside any span: the trace comes from the event alone.
            cqrs_core::ProjectionRunner::new(store.clone(), Traced)
                .catch_up()
                .await
                .unwrap();
        })
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let append = span(&spans, "append");
    let project = span(&spans, "project");
    let update = span(&spans, "view update");
    assert_eq!(
        project.span_context.trace_id(),
        append.span_context.trace_id()
    );
    assert_eq!(project.parent_span_id, append.span_context.span_id());
    assert!(
        project.parent_span_is_remote,
        "continued from the stored context"
    );
    assert_eq!(update.parent_span_id, project.span_context.span_id());
}

#[test]
fn hostile_trace_headers_are_ignored_without_a_panic() {
    use cqrs_core::telemetry::trace_context::{continue_from, HeaderSource};
    use std::collections::BTreeMap;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, || {
        for hostile in [
            "garbage".to_owned(),
            String::new(),
            "00-00000000000000000000000000000000-0000000000000000-01".to_owned(),
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra".to_owned(),
            format!("00-{}-00f067aa0ba902b7-01", "a".repeat(100_000)),
            "00-4bf92f3577b34da6a3ce929d0e0e47é6-00f067aa0ba902b7-01".to_owned(),
        ] {
            let headers = BTreeMap::from([(TRACEPARENT.to_owned(), hostile.clone())]);
            let span = tracing::info_span!("consume");
            assert!(
                !continue_from(&span, &HeaderSource(&headers)),
                "accepted {:?}",
                &hostile[..hostile.len().min(80)]
            );
        }
        let valid = BTreeMap::from([(
            TRACEPARENT.to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]);
        assert!(continue_from(
            &tracing::info_span!("consume"),
            &HeaderSource(&valid)
        ));
    });
}
