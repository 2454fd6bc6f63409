//! Size limits end to end: a store limiting the `Order` category to
//! `RelayConfig::max_payload_bytes(&limits)` refuses a larger payload when it is appended (so
//! the command fails, not the relay later), and the largest payload it accepts, with the
//! longest stream id and a large envelope, is published by the relay's producer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, StoreError,
    StoreLimits,
};
use cqrs_kafka::{headers, EventRelay, KafkaConfig, RelayConfig, TopicMapping};
use uuid::Uuid;

/// A JSON string payload of exactly `len` bytes.
fn payload_of(len: usize) -> JsonPayload {
    JsonPayload::parse(format!(r#""{}""#, "p".repeat(len - 2))).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_payload_the_store_accepts_for_a_relayed_category_is_published() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("limits"));
    let topic = format!("{prefix}Order");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;
    let config = RelayConfig {
        topics: TopicMapping::by_category().with_prefix(&prefix),
        ..RelayConfig::default()
    };
    let max = config.max_payload_bytes(&StoreLimits::default());
    assert!(
        (950_000..1_000_000).contains(&max),
        "room for the envelope, not more: {max}"
    );
    let limits = StoreLimits::default().with_category_max_payload("Order", max);
    let store = Arc::new(InMemoryEventStore::with_limits(limits.clone()));

    // The longest stream id, a long type name, both ids and ~15 KiB of metadata headers.
    let stream = format!("Order-{}", "o".repeat(limits.max_stream_id_bytes - 6));
    let mut metadata = Metadata {
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        ..Metadata::default()
    };
    for n in 0..10 {
        metadata = metadata.with_header(format!("key-{n}"), "m".repeat(1_490));
    }
    let event_type = "T".repeat(256);
    let too_large = NewEvent::raw(event_type.clone(), 1, payload_of(max + 1));
    let refused = store
        .append(
            &stream,
            ExpectedVersion::NoStream,
            vec![too_large],
            &metadata,
        )
        .await;
    assert!(
        matches!(&refused, Err(StoreError::InvalidInput { stream: s, .. }) if *s == stream),
        "one byte over the category limit is refused at the store: {refused:?}"
    );
    let largest = NewEvent::raw(event_type, 1, payload_of(max));
    store
        .append(&stream, ExpectedVersion::NoStream, vec![largest], &metadata)
        .await
        .expect("the limit itself is accepted");

    let relay = EventRelay::new(store, kafka.clone())
        .with_config(config)
        .spawn();
    relay
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .expect("the producer accepts the largest payload the store accepts");
    relay.shutdown().await.expect("clean shutdown");
    let received = support::read_topics(
        &kafka,
        &[topic],
        1,
        Duration::from_millis(200),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(received[0].payload.len(), max);
    assert_eq!(received[0].header(headers::STREAM_ID), stream);
}
