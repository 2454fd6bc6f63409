//! One trace from a command to the handlers of its events, and from a command sender to
//! the command's pipeline, across Kafka: the relay publishes in a `relay publish` span
//! continuing the `append` span stored in the event's metadata, consumers handle each
//! message in a `consume` span continuing `relay publish`; the command bus's
//! `command send` is continued by the processor's `command process`, parent of the
//! pipeline's `command`.
//!
//! Installs a process-wide subscriber with an OpenTelemetry layer (in-memory exporter) and
//! the W3C propagator, so it is a test binary of its own.

mod command_bus_support;
mod support;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use command_bus_support::{deposit, Account, AccountCommand, Bus};
use cqrs_core::{CommandBus, InMemoryEventStore, RecordedEvent, Repository};
use cqrs_kafka::{
    Batch, BatchConsumerRunner, BatchHandler, ConsumerConfig, ConsumerRunner, EventRelay,
    HandlerError, KafkaConfig, MessageHandler, MessageSource,
};
use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// The exporter every span of this binary ends in (installed once).
fn exporter() -> &'static InMemorySpanExporter {
    static INSTALLED: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    let (exporter, _provider) = INSTALLED.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let logs = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::new("warn,librdkafka=error"));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("cqrs-kafka-tests")))
            .with(logs);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        (exporter, provider)
    });
    exporter
}

/// The finished spans of `trace`, once `done` holds for them (within 30 s).
async fn trace_spans(trace: TraceId, done: impl Fn(&[SpanData]) -> bool) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans: Vec<SpanData> = exporter()
            .get_finished_spans()
            .expect("finished spans")
            .into_iter()
            .filter(|span| span.span_context.trace_id() == trace)
            .collect();
        if done(&spans) || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The trace id of the finished span named `name` (a test's root).
fn trace_of(name: &str) -> TraceId {
    let spans = exporter().get_finished_spans().expect("finished spans");
    one(&spans, name).span_context.trace_id()
}

fn one<'s>(spans: &'s [SpanData], name: &str) -> &'s SpanData {
    let named: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    match named.as_slice() {
        [only] => only,
        _ => panic!(
            "expected one `{name}` span, found {} among {:?}",
            named.len(),
            names(spans)
        ),
    }
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans.iter().map(|s| s.name.to_string()).collect()
}

fn has(spans: &[SpanData], name: &str) -> bool {
    spans.iter().any(|s| s.name == name)
}

fn id(span: &SpanData) -> SpanId {
    span.span_context.span_id()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Opens a `handler step` span of its own for every event, as a saga would.
#[derive(Default)]
struct Steps {
    seen: u64,
}

#[async_trait]
impl MessageHandler for Steps {
    async fn handle(
        &mut self,
        _: &RecordedEvent,
        _: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        tracing::info_span!("handler step").in_scope(|| self.seen += 1);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumed_event_continues_the_trace_of_the_command_that_appended_it() {
    exporter();
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("traced"));
    let topic = format!("{prefix}Account");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;

    let store = Arc::new(InMemoryEventStore::new());
    let accounts = Repository::<Account, _>::new(store.clone());
    let deposit = AccountCommand::Deposit {
        id: "a1".into(),
        cents: 5,
    };
    let committed = accounts
        .execute(deposit)
        .instrument(tracing::info_span!("POST /accounts (relay)"))
        .await
        .expect("committed");
    let trace = trace_of("POST /accounts (relay)");

    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(support::publish::relay_config(&prefix))
        .spawn();
    let config = ConsumerConfig::new(support::unique("traced-view"), [topic.clone()]);
    let consumer = ConsumerRunner::new(kafka, config, Steps::default())
        .spawn()
        .expect("consumer");
    consumer
        .wait_for(Duration::from_secs(60), |stats| stats.handled >= 1)
        .await
        .expect("handled");

    let spans = trace_spans(trace, |spans| has(spans, "consume")).await;
    assert!(consumer.shutdown().await.expect("consumer").seen >= 1);
    relay.shutdown().await.expect("relay");

    let append = one(&spans, "append");
    let publish = one(&spans, "relay publish");
    let consume = one(&spans, "consume");
    let step = one(&spans, "handler step");
    assert_eq!(
        publish.parent_span_id,
        id(append),
        "relay publish <- append"
    );
    assert!(publish.parent_span_is_remote);
    assert_eq!(
        consume.parent_span_id,
        id(publish),
        "consume <- relay publish"
    );
    assert_eq!(step.parent_span_id, id(consume), "handler step <- consume");
    assert_eq!(
        (publish.span_kind.clone(), consume.span_kind.clone()),
        (SpanKind::Producer, SpanKind::Consumer)
    );
    let event = &committed.recorded[0];
    for span in [publish, consume] {
        assert_eq!(
            attribute(span, "event_id"),
            Some(event.event_id.to_string())
        );
        assert_eq!(attribute(span, "stream"), Some("Account-a1".to_owned()));
        assert_eq!(
            attribute(span, "position"),
            Some(event.position.to_string())
        );
    }
    assert_eq!(attribute(consume, "topic"), Some(topic));
}

/// Writes rows a batch at a time; the work for each row runs in its message's span. Keeps
/// the positions of each batch it was given.
#[derive(Default)]
struct Rows {
    batches: Arc<Mutex<Vec<Vec<u64>>>>,
}

#[async_trait]
impl BatchHandler for Rows {
    async fn handle_batch(&mut self, batch: &mut Batch<'_>) -> Result<(), HandlerError> {
        let positions = batch.iter().map(|item| item.event().position).collect();
        self.batches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(positions);
        for item in batch.iter() {
            let row = async { tracing::info_span!("row").in_scope(|| ()) };
            row.instrument(item.span().clone()).await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_handler_does_each_messages_work_in_that_messages_trace() {
    exporter();
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("traced-batch"));
    let topic = format!("{prefix}Account");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;

    let store = Arc::new(InMemoryEventStore::new());
    let accounts = Repository::<Account, _>::new(store.clone());
    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(support::publish::relay_config(&prefix))
        .spawn();
    // A batch is full at 2 messages, or handed after 5 s with what came.
    let config = ConsumerConfig::new(support::unique("traced-rows"), [topic])
        .with_batches(2, Duration::from_secs(5));
    let rows = Rows::default();
    let batches = rows.batches.clone();
    let consumer = BatchConsumerRunner::new(kafka, config, rows)
        .spawn()
        .expect("consumer");

    // Rounds of two commands on one stream (one partition), each in a trace of its own,
    // until one batch held both messages of a round: only then does the handler run
    // outside both traces, so that only the per-message spans put each row in its trace.
    // Every message, in whatever batch it came, must do its work in its own trace.
    let mut together = false;
    for round in 0..3_u64 {
        let mut traces = Vec::new();
        let mut positions = Vec::new();
        for n in 1..=2 {
            let root = format!("POST /accounts (round {round}, deposit {n})");
            let deposit = AccountCommand::Deposit {
                id: "b1".into(),
                cents: 5,
            };
            let committed = accounts
                .execute(deposit)
                .instrument(tracing::info_span!("request", otel.name = root.as_str()))
                .await
                .expect("committed");
            positions.push(committed.recorded[0].position);
            traces.push(trace_of(&root));
        }
        consumer
            .wait_for(Duration::from_secs(60), |stats| {
                stats.handled >= 2 * (round + 1)
            })
            .await
            .expect("handled");
        for trace in traces {
            let spans = trace_spans(trace, |spans| has(spans, "consume")).await;
            let consume = one(&spans, "consume");
            let row = one(&spans, "row");
            assert_eq!(
                row.parent_span_id,
                id(consume),
                "row <- its message's consume"
            );
            assert_eq!(consume.parent_span_id, id(one(&spans, "relay publish")));
        }
        let batches = batches.lock().unwrap_or_else(PoisonError::into_inner);
        if batches.iter().any(|batch| batch == &positions) {
            together = true;
            break;
        }
        eprintln!("round {round}: its two messages came in separate batches: {batches:?}");
    }
    let batches = batches
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(
        together,
        "no batch held both messages of a round: {batches:?}"
    );
    consumer.shutdown().await.expect("consumer");
    relay.shutdown().await.expect("relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_over_kafka_is_processed_in_the_senders_trace() {
    exporter();
    let Some(bus) = Bus::new("traced-bus").await else {
        return;
    };
    let store = Arc::new(InMemoryEventStore::new());
    let processor = bus.processor(bus.router(store.clone()));
    let sender = bus.sender().await;
    let sent = deposit("a1", 500);
    let reply = sender
        .send(sent.clone(), Duration::from_secs(30))
        .instrument(tracing::info_span!("POST /deposits"))
        .await
        .expect("reply");
    assert_eq!(reply.command_id, sent.command_id);
    let trace = trace_of("POST /deposits");

    let spans = trace_spans(trace, |spans| {
        has(spans, "command process") && has(spans, "append")
    })
    .await;
    sender.shutdown().await;
    processor.shutdown().await.expect("processor");

    let root = one(&spans, "POST /deposits");
    let send = one(&spans, "command send");
    let process = one(&spans, "command process");
    let command = one(&spans, "command");
    let append = one(&spans, "append");
    assert_eq!(send.parent_span_id, id(root), "command send <- caller");
    assert_eq!(
        process.parent_span_id,
        id(send),
        "command process <- command send"
    );
    assert!(process.parent_span_is_remote);
    assert_eq!(
        command.parent_span_id,
        id(process),
        "command <- command process"
    );
    assert_eq!(append.parent_span_id, id(command), "append <- command");
    assert_eq!(
        (send.span_kind.clone(), process.span_kind.clone()),
        (SpanKind::Producer, SpanKind::Consumer)
    );
    let command_id = Some(sent.command_id.to_string());
    assert_eq!(attribute(send, "command_id"), command_id);
    assert_eq!(attribute(process, "command_id"), command_id);
    assert_eq!(attribute(process, "aggregate_id"), Some("a1".to_owned()));
    assert_eq!(
        attribute(process, "correlation_id"),
        Some(sent.correlation_id.to_string())
    );
    assert_eq!(attribute(send, "outcome"), Some("accepted".to_owned()));
}
