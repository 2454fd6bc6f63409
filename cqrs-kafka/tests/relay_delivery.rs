//! A clean run of the relay: every event arrives exactly once, in stream order, with its
//! envelope in the headers.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{EventStore, InMemoryEventStore};
use cqrs_kafka::{headers, EventRelay, KafkaConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_every_event_exactly_once_in_stream_order() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (prefix, topics) = support::publish::category_topics("exact");
    support::create_topics(&kafka, &topics).await;
    let store = Arc::new(InMemoryEventStore::new());
    let appended = support::append_events(&*store, 50, 10_000).await;

    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(support::publish::relay_config(&prefix))
        .spawn();
    relay
        .wait_until_caught_up(Duration::from_secs(120))
        .await
        .expect("relay catches up");
    relay.shutdown().await.expect("clean shutdown");
    assert_eq!(
        store.load_checkpoint("kafka-relay").await.unwrap(),
        Some(10_000)
    );

    let received = support::read_topics(
        &kafka,
        &topics,
        10_000,
        Duration::from_secs(3),
        Duration::from_secs(120),
    )
    .await;

    // Exactly once by event id.
    let copies = support::copies_by_event_id(&received);
    assert_eq!(received.len(), 10_000, "no extra copies");
    for event in &appended {
        assert_eq!(
            copies.get(event.event_id.to_string().as_str()),
            Some(&1),
            "event {} once",
            event.event_id
        );
    }

    // Per key: one partition, versions 1, 2, 3, ... in offset order.
    let mut by_key: HashMap<&str, Vec<&support::Received>> = HashMap::new();
    for message in &received {
        by_key.entry(&message.key).or_default().push(message);
    }
    assert_eq!(by_key.len(), 50);
    for (key, mut messages) in by_key {
        let partitions: std::collections::HashSet<_> =
            messages.iter().map(|m| (&m.topic, m.partition)).collect();
        assert_eq!(partitions.len(), 1, "stream {key} on one partition");
        messages.sort_by_key(|m| m.offset);
        let versions: Vec<u64> = messages
            .iter()
            .map(|m| m.header(headers::STREAM_VERSION).parse().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, expected, "stream {key} in order");
    }

    // The envelope travels in the headers; the value is the payload.
    let first = &appended[0];
    let message = received
        .iter()
        .find(|m| m.header(headers::EVENT_ID) == first.event_id.to_string())
        .unwrap();
    assert_eq!(message.topic, format!("{prefix}Order"));
    assert_eq!(message.key, &*first.stream_id);
    assert_eq!(message.payload, first.payload.as_str());
    assert_eq!(message.header(headers::EVENT_TYPE), &*first.event_type);
    assert_eq!(message.header(headers::EVENT_VERSION), "1");
    assert_eq!(message.header(headers::STREAM_ID), &*first.stream_id);
    assert_eq!(message.header(headers::STREAM_VERSION), "1");
    assert_eq!(message.header(headers::GLOBAL_POSITION), "1");
    let recorded_at =
        chrono::DateTime::parse_from_rfc3339(message.header(headers::RECORDED_AT)).unwrap();
    assert_eq!(recorded_at, first.recorded_at);
    let correlation = first.metadata.correlation_id.unwrap().to_string();
    assert_eq!(message.header(headers::CORRELATION_ID), correlation);
    let causation = first.metadata.causation_id.unwrap().to_string();
    assert_eq!(message.header(headers::CAUSATION_ID), causation);
    assert_eq!(message.header("meta-tenant"), "acme");
}
