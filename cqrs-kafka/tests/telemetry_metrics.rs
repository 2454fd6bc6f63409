//! The metrics this crate records (`cqrs_relay_published_total`, `cqrs_relay_lag_events`,
//! `cqrs_consumer_messages_total`, `cqrs_worker_up`), with the exact values a run implies.
//!
//! Installs a process-wide recorder, so it is a test binary of its own; every test labels
//! its metrics with names of its own (relay, topics, group), so they run side by side.

mod command_bus_support;
mod metrics_support;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use command_bus_support::{deposit, Bus};
use cqrs_core::telemetry::metric::{
    CONSUMER_MESSAGES_TOTAL, RELAY_LAG_EVENTS, RELAY_PUBLISHED_TOTAL, WORKER_UP,
};
use cqrs_core::{
    CommandBus, EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent,
    RecordedEvent, RetryPolicy,
};
use cqrs_kafka::{
    ConsumerConfig, ConsumerRunner, EventRelay, HandlerError, KafkaConfig, MessageHandler,
    MessageSource, RawJsonDecoder, RefusedEvents, RelayConfig, TopicMapping,
};
use metrics_support::recorded;

/// `cqrs_worker_up` of `worker` in `role`, every value it was set to.
fn worker_up(worker: &str, role: &str) -> Vec<f64> {
    recorded().gauge(WORKER_UP, &[("worker", worker), ("role", role)])
}

/// Appends one event of `payload` to `stream`.
async fn append(store: &InMemoryEventStore, stream: &str, payload: String) {
    let event = NewEvent::raw("Changed", 1, JsonPayload::parse(payload).expect("json"));
    store
        .append(
            stream,
            ExpectedVersion::Any,
            vec![event],
            &Metadata::default(),
        )
        .await
        .expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_counts_each_event_the_broker_acknowledged_and_its_lag_falls_to_zero() {
    recorded();
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("relay-metrics"));
    let (topic, parking) = (format!("{prefix}File"), format!("{prefix}parked"));
    support::create_topics(&kafka, &[topic, parking.clone()]).await;
    // Five events, the third too large: parked, not published.
    let store = Arc::new(InMemoryEventStore::new());
    for n in 0..5 {
        let payload = match n {
            2 => format!(r#"{{"blob":"{}"}}"#, "x".repeat(5_000)),
            _ => format!(r#"{{"n":{n}}}"#),
        };
        append(&store, &format!("File-{}", n % 2), payload).await;
    }
    let relay_name = support::unique("relay");
    let config = RelayConfig {
        checkpoint_name: relay_name.clone(),
        topics: TopicMapping::by_category().with_prefix(&prefix),
        max_message_bytes: 2_000,
        on_refused: RefusedEvents::park(&parking),
        parked_max_payload_bytes: 100,
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store.clone(), kafka)
        .with_config(config)
        .spawn();
    let progress = relay
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .expect("caught up");
    assert_eq!((progress.checkpoint, progress.parked), (5, 1));
    assert_eq!(worker_up(&relay_name, "leader").last(), Some(&1.0));
    relay.shutdown().await.expect("clean shutdown");

    let labels = [("relay", relay_name.as_str())];
    assert_eq!(recorded().counter(RELAY_PUBLISHED_TOTAL, &labels), 4);
    let lag = recorded().gauge(RELAY_LAG_EVENTS, &labels);
    assert_eq!(lag.last(), Some(&0.0), "caught up: {lag:?}");
    assert_eq!(worker_up(&relay_name, "stopped").last(), Some(&1.0));
    assert_eq!(worker_up(&relay_name, "leader").last(), Some(&0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_cannot_reach_the_broker_reports_the_whole_log_as_its_lag() {
    recorded();
    let store = Arc::new(InMemoryEventStore::new());
    for n in 0..3 {
        append(&store, "Order-1", format!(r#"{{"n":{n}}}"#)).await;
    }
    // Nothing listens there: nothing is ever acknowledged.
    let kafka = KafkaConfig::new(format!("127.0.0.1:{}", support::broker::free_port()));
    let relay_name = support::unique("stuck-relay");
    let config = RelayConfig {
        checkpoint_name: relay_name.clone(),
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store, kafka).with_config(config).spawn();
    let labels = [("relay", relay_name.as_str())];
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorded().last(RELAY_LAG_EVENTS, &labels) != Some(3.0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        recorded().gauge(RELAY_LAG_EVENTS, &labels),
        [3.0],
        "3 events, none acknowledged"
    );
    assert_eq!(recorded().counter(RELAY_PUBLISHED_TOTAL, &labels), 0);
    assert_eq!(worker_up(&relay_name, "leader"), [1.0]);
    relay.abort();
}

/// Stores readings; rejects `"reject": true` ones, and fails transiently the first time it
/// sees `"flaky": true`.
#[derive(Default)]
struct Readings {
    stored: Vec<i64>,
    outage_over: bool,
}

#[async_trait]
impl MessageHandler for Readings {
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        let value = event.payload.to_value().map_err(HandlerError::rejected)?;
        if value["reject"] == true {
            return Err(HandlerError::rejected("out of range"));
        }
        if value["flaky"] == true && !std::mem::replace(&mut self.outage_over, true) {
            return Err(HandlerError::transient("database unavailable"));
        }
        self.stored.push(value["n"].as_i64().unwrap_or(-1));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_counts_handled_dead_lettered_and_retried_messages_per_topic() {
    recorded();
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = support::unique("metered-readings");
    let dead_letters = format!("{topic}.dlq");
    support::create_topics(&kafka, &[topic.clone(), dead_letters.clone()]).await;
    for value in [
        r#"{"n":1}"#,
        r#"{"n":2,"reject":true}"#,
        r#"{"n":3,"flaky":true}"#,
        r#"{"n":4}"#,
    ] {
        support::publish::produce_raw(&kafka, &topic, "sensor-1", value.as_bytes(), &[]).await;
    }

    let group = support::unique("metered-writer");
    let mut config =
        ConsumerConfig::new(&group, [topic.clone()]).with_dead_letter_topic(&dead_letters);
    // A rejection is tried twice: its second attempt is not a transient retry.
    config.retry =
        RetryPolicy::attempts(2).with_backoff(Duration::from_millis(5), Duration::from_millis(5));
    config.transient_backoff =
        RetryPolicy::between(Duration::from_millis(5), Duration::from_millis(5));
    let running = ConsumerRunner::new(kafka, config, Readings::default())
        .with_decoder(RawJsonDecoder::default())
        .spawn()
        .expect("consumer");
    let stats = running
        .wait_for(Duration::from_secs(60), |stats| stats.processed() >= 4)
        .await
        .expect("all processed");
    assert_eq!(
        (stats.handled, stats.dead_lettered, stats.retries),
        (3, 1, 2)
    );
    assert_eq!(worker_up(&group, "leader"), [1.0]);
    let handler = running.shutdown().await.expect("clean shutdown");
    assert_eq!(handler.stored, [1, 3, 4]);

    let count = |outcome| {
        recorded().counter(
            CONSUMER_MESSAGES_TOTAL,
            &[("topic", topic.as_str()), ("outcome", outcome)],
        )
    };
    assert_eq!(
        (count("handled"), count("dead_lettered"), count("retried")),
        (3, 1, 1)
    );
    assert_eq!(
        recorded().counter(CONSUMER_MESSAGES_TOTAL, &[("topic", dead_letters.as_str())]),
        0
    );
    assert_eq!(worker_up(&group, "stopped").last(), Some(&1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_processor_counts_its_commands_as_a_consumer() {
    recorded();
    let Some(bus) = Bus::new("metered-bus").await else {
        return;
    };
    let store = Arc::new(InMemoryEventStore::new());
    let processor = bus.processor(bus.router(store));
    let sender = bus.sender().await;
    for cents in [100, 200] {
        sender
            .send(deposit("a1", cents), Duration::from_secs(30))
            .await
            .expect("reply");
    }
    sender.shutdown().await;
    processor.shutdown().await.expect("clean shutdown");

    let topic = bus.topics.topic_for("Account");
    let labels = [("topic", topic.as_ref()), ("outcome", "handled")];
    assert_eq!(recorded().counter(CONSUMER_MESSAGES_TOTAL, &labels), 2);
    assert_eq!(worker_up(&bus.group, "leader"), [1.0, 0.0]);
    assert_eq!(worker_up(&bus.group, "stopped"), [0.0, 1.0]);
}
