//! Getting events into topics: through the relay, or as raw messages.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{InMemoryEventStore, RecordedEvent};
use cqrs_kafka::{EventRelay, KafkaConfig, RelayConfig, TopicMapping};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A unique topic prefix `<name>-<id>.` and its two category topics, `<prefix>Order` and
/// `<prefix>Invoice` (the categories [`append_events`](super::append_events) writes), not
/// created yet.
pub fn category_topics(name: &str) -> (String, Vec<String>) {
    let prefix = format!("{}.", super::unique(name));
    let topics = vec![format!("{prefix}Order"), format!("{prefix}Invoice")];
    (prefix, topics)
}

/// The default relay configuration, publishing to the category topics under `prefix`.
pub fn relay_config(prefix: &str) -> RelayConfig {
    RelayConfig {
        topics: TopicMapping::by_category().with_prefix(prefix),
        ..RelayConfig::default()
    }
}

/// Creates the [`category_topics`] of `name`, appends `total` events over `streams`
/// streams to a new store and relays them. Returns the topics and the events.
///
/// The relay sends one message per record batch here: tansu 0.6.0 cannot fetch from an
/// offset inside a record batch (its storage returns only batches whose *base* offset is
/// at or after the requested one, so the rest of that batch is skipped, or nothing comes
/// back at the end of the log). A consumer resuming from a committed offset therefore only
/// works on tansu when every message is its own batch. Real Kafka has no such limit.
pub async fn relayed_events(
    kafka: &KafkaConfig,
    name: &str,
    streams: usize,
    total: usize,
) -> (Vec<String>, Vec<RecordedEvent>) {
    let (prefix, topics) = category_topics(name);
    super::create_topics(kafka, &topics).await;
    let store = Arc::new(InMemoryEventStore::new());
    let events = super::append_events(&*store, streams, total).await;
    let one_per_batch = kafka.clone().set("batch.num.messages", "1");
    let relay = EventRelay::new(store, one_per_batch)
        .with_config(relay_config(&prefix))
        .spawn();
    relay
        .wait_until_caught_up(Duration::from_secs(60))
        .await
        .expect("relayed");
    relay.shutdown().await.expect("relay shutdown");
    (topics, events)
}

/// Produces one raw message and returns its (partition, offset).
pub async fn produce_raw(
    kafka: &KafkaConfig,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: &[(&str, &str)],
) -> (i32, i64) {
    let producer: FutureProducer = kafka.client_config().create().expect("producer");
    let mut owned = OwnedHeaders::new();
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: Some(*value),
        });
    }
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(value)
        .headers(owned);
    let delivery = producer
        .send(record, Duration::from_secs(5))
        .await
        .expect("delivered");
    (delivery.partition, delivery.offset)
}
