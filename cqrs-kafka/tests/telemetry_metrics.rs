//! The metrics this crate records (`cqrs_relay_published_total`, `cqrs_relay_lag_events`,
//! `cqrs_consumer_messages_total`, `cqrs_worker_up`, and `cqrs_projection_position` /
//! `cqrs_projection_lag_events` of a Kafka-fed projection), with the exact values a run
//! implies.
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
    CONSUMER_MESSAGES_TOTAL, PROJECTION_LAG_EVENTS, PROJECTION_POSITION, RELAY_LAG_EVENTS,
    RELAY_PUBLISHED_TOTAL, WORKER_UP,
};
use cqrs_core::{
    CommandBus, EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent,
    Persistence, Projection, RecordedEvent, RetryPolicy,
};
use cqrs_kafka::{
    ConsumerConfig, ConsumerRunner, EventRelay, HandlerError, KafkaConfig, MessageHandler,
    MessageSource, ProjectionHandler, RawJsonDecoder, RefusedEvents, RelayConfig, TopicMapping,
};
use metrics_support::recorded;
use tokio::sync::watch;

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
    let lag = wait_for_lag(&labels, 3.0).await;
    // Not exactly `[3.0]`: a report before the head was known, or a session restarted by
    // a delivery timeout, may set lower values first; never a higher one.
    assert_eq!(
        lag.last(),
        Some(&3.0),
        "3 events, none acknowledged: {lag:?}"
    );
    assert!(lag.iter().all(|lag| *lag <= 3.0), "{lag:?}");
    assert_eq!(recorded().counter(RELAY_PUBLISHED_TOTAL, &labels), 0);
    assert_eq!(worker_up(&relay_name, "leader"), [1.0]);
    relay.abort();
}

/// The history of the relay lag gauge with `labels`, once its last value is `lag` (or
/// after 10 s).
async fn wait_for_lag(labels: &[(&str, &str)], lag: f64) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorded().last(RELAY_LAG_EVENTS, labels) != Some(lag) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    recorded().gauge(RELAY_LAG_EVENTS, labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_with_a_full_in_flight_window_still_counts_the_events_appended_meanwhile() {
    recorded();
    let store = Arc::new(InMemoryEventStore::new());
    for n in 0..3 {
        append(&store, "Order-1", format!(r#"{{"n":{n}}}"#)).await;
    }
    // Nothing acknowledges: the window of 2 stays full, the relay reads nothing more.
    let kafka = KafkaConfig::new(format!("127.0.0.1:{}", support::broker::free_port()));
    let relay_name = support::unique("full-window-relay");
    let config = RelayConfig {
        checkpoint_name: relay_name.clone(),
        max_in_flight: 2,
        checkpoint_interval: Duration::from_millis(50),
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store.clone(), kafka)
        .with_config(config)
        .spawn();
    let labels = [("relay", relay_name.as_str())];
    let lag = wait_for_lag(&labels, 3.0).await;
    assert_eq!(
        lag.last(),
        Some(&3.0),
        "2 read of 3, none acknowledged: {lag:?}"
    );
    for n in 3..7 {
        append(&store, "Order-2", format!(r#"{{"n":{n}}}"#)).await;
    }
    // The store announced the head 7; the relay, still waiting on its window, sees it.
    let lag = wait_for_lag(&labels, 7.0).await;
    assert_eq!(
        lag.last(),
        Some(&7.0),
        "7 events, none acknowledged: {lag:?}"
    );
    assert_eq!(
        relay.progress().sent_position,
        2,
        "the window stayed full: nothing read since"
    );
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

/// A read model that waits at its event of stream version `gated` until the gate opens.
struct Gated {
    name: String,
    gated: u64,
    gate: watch::Receiver<bool>,
    applied: Vec<u64>,
}

#[async_trait]
impl Projection for Gated {
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        &self.name
    }

    fn persistence(&self) -> Persistence {
        Persistence::InMemory
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if event.stream_version == self.gated {
            let _ = self.gate.wait_for(|open| *open).await;
        }
        self.applied.push(event.position);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_fed_projection_reports_its_position_and_the_messages_behind_it_per_partition() {
    recorded();
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("projection-lag"));
    let topic = format!("{prefix}Reading");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;
    // Three events of one stream: one partition, offsets 0..=2, positions 1..=3.
    let store = Arc::new(InMemoryEventStore::new());
    for n in 0..3 {
        append(&store, "Reading-1", format!(r#"{{"n":{n}}}"#)).await;
    }
    let relay = EventRelay::new(store, kafka.clone())
        .with_config(support::publish::relay_config(&prefix))
        .spawn();
    relay
        .wait_until_caught_up(Duration::from_secs(60))
        .await
        .expect("relayed");
    relay.shutdown().await.expect("relay shutdown");

    let name = support::unique("gated-view");
    let (open, gate) = watch::channel(false);
    let view = Gated {
        name: name.clone(),
        gated: 2,
        gate,
        applied: Vec::new(),
    };
    let config = ConsumerConfig::new(support::unique("gated-view"), [topic]);
    let running = ConsumerRunner::new(kafka, config, ProjectionHandler::new(view))
        .spawn()
        .expect("consumer");
    let gauge = |metric: &str, shard: &str| {
        recorded().gauge(metric, &[("projection", name.as_str()), ("shard", shard)])
    };
    // The first event done, the handler blocked on the second with one more behind it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let shard = loop {
        let done = ["0", "1", "2"]
            .into_iter()
            .find(|shard| !gauge(PROJECTION_POSITION, shard).is_empty());
        if let Some(shard) = done {
            break shard;
        }
        assert!(Instant::now() < deadline, "the first event never done");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(running.progress().handled, 1, "blocked on the second event");
    assert_eq!(gauge(PROJECTION_POSITION, shard), [1.0]);
    assert_eq!(
        gauge(PROJECTION_LAG_EVENTS, shard),
        [2.0],
        "high watermark 3 - (offset 0 + 1)"
    );

    open.send(true).expect("gate");
    running
        .wait_for(Duration::from_secs(60), |stats| stats.handled >= 3)
        .await
        .expect("all handled");
    let view = running
        .shutdown()
        .await
        .expect("clean shutdown")
        .into_inner();
    assert_eq!(view.applied, [1, 2, 3]);
    let mut positions = gauge(PROJECTION_POSITION, shard);
    positions.dedup();
    assert_eq!(positions, [1.0, 2.0, 3.0]);
    let lag = gauge(PROJECTION_LAG_EVENTS, shard);
    assert_eq!(lag[..3], [2.0, 1.0, 0.0], "{lag:?}");
    assert!(lag[3..].iter().all(|lag| *lag == 0.0), "caught up: {lag:?}");
    for other in ["0", "1", "2"].into_iter().filter(|s| *s != shard) {
        assert!(
            gauge(PROJECTION_POSITION, other).is_empty(),
            "shard {other}"
        );
    }
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
