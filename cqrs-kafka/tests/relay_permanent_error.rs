//! An event the broker can never accept: by default it stops the relay with the error
//! naming its position instead of being skipped (the checkpoint stays before it, and the
//! stop is visible as a failed worker state); with `RefusedEvents::Park` a bounded record
//! of it goes to the parking topic and the events after it are published.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::{CatchUpError, ShutdownError, WaitError, WorkerState};
use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent,
    RecordedEvent, RetryPolicy,
};
use cqrs_kafka::{
    headers, EventRelay, KafkaConfig, RefusedEvents, RelayConfig, RelayError, TopicMapping,
};

/// A store holding one event of about 5,000 bytes in `File-1`, then `good` small events
/// over `File-1`, `File-2` and `File-3`. Returns the store and every recorded event.
async fn store_with_a_big_event_first(
    good: usize,
) -> (Arc<InMemoryEventStore>, Vec<RecordedEvent>) {
    let store = Arc::new(InMemoryEventStore::new());
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(5_000));
    let mut recorded = store
        .append(
            "File-1",
            ExpectedVersion::NoStream,
            vec![NewEvent::raw(
                "Uploaded",
                1,
                JsonPayload::parse(big).unwrap(),
            )],
            &Metadata::default().with_header("tenant", "acme"),
        )
        .await
        .unwrap()
        .events;
    for n in 0..good {
        let payload = JsonPayload::parse(format!(r#"{{"n":{n}}}"#)).unwrap();
        let stream = format!("File-{}", 1 + n % 3);
        let appended = store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![NewEvent::raw("Renamed", 1, payload)],
                &Metadata::default(),
            )
            .await
            .unwrap();
        recorded.extend(appended.events);
    }
    (store, recorded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_stops_the_relay_without_skipping_it() {
    let (store, _) = store_with_a_big_event_first(1).await;
    // Nothing listens there: only the local size check can answer.
    let kafka = KafkaConfig::new(format!("127.0.0.1:{}", support::broker::free_port()));
    let config = RelayConfig {
        max_message_bytes: 1_000,
        retry_backoff: RetryPolicy::between(Duration::from_millis(10), Duration::from_millis(10)),
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store.clone(), kafka)
        .with_config(config)
        .spawn();

    let waited = relay.wait_until_caught_up(Duration::from_secs(10)).await;
    assert!(
        matches!(waited, Err(CatchUpError::Wait(WaitError::Stopped { .. }))),
        "the relay stops instead of retrying: {waited:?}"
    );
    let stopped = tokio::time::timeout(Duration::from_secs(5), relay.state().stopped())
        .await
        .expect("the worker state reports the stop");
    match &stopped {
        WorkerState::Failed(reason) => assert!(
            reason.contains("position 1 (stream `File-1`)") && reason.contains("too large"),
            "the failed state names the position and the refusal: {reason}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
    let progress = relay.progress();
    assert_eq!(
        (
            progress.sent_position,
            progress.acked_position,
            progress.checkpoint
        ),
        (0, 0, 0)
    );
    let error = match relay.shutdown().await {
        Err(ShutdownError::Failed(error)) => error,
        other => panic!("expected the relay's error, got {other:?}"),
    };
    assert!(!error.is_transient(), "{error}");
    match &error {
        RelayError::Publish {
            position, topic, ..
        } => assert_eq!(
            (*position, &**topic),
            (1, "File"),
            "stopped at the big event"
        ),
        other => panic!("expected the publish error, got {other:?}"),
    }
    assert_eq!(
        store.load_checkpoint("kafka-relay").await.unwrap(),
        None,
        "no checkpoint past the unpublished event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_parked_and_the_events_after_it_are_published() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("parking"));
    let (topic, parking) = (format!("{prefix}File"), format!("{prefix}parked"));
    support::create_topics(&kafka, &[topic.clone(), parking.clone()]).await;
    let (store, recorded) = store_with_a_big_event_first(6).await;
    let config = RelayConfig {
        topics: TopicMapping::by_category().with_prefix(&prefix),
        max_message_bytes: 2_000,
        on_refused: RefusedEvents::park(&parking),
        parked_max_payload_bytes: 100,
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(config)
        .spawn();
    let head = relay
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .expect("the relay goes on past the refused event")
        .checkpoint;
    assert_eq!(head, 7);
    assert_eq!(relay.progress().parked, 1);
    assert_eq!(relay.state().current(), WorkerState::Running);

    let published = support::read_topics(
        &kafka,
        &[topic],
        6,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
    .await;
    let mut ids: Vec<&str> = published
        .iter()
        .map(|m| m.header(headers::EVENT_ID))
        .collect();
    ids.sort_unstable();
    let mut good: Vec<String> = recorded[1..]
        .iter()
        .map(|e| e.event_id.to_string())
        .collect();
    good.sort_unstable();
    assert_eq!(ids, good, "every good event arrives once, the big one not");

    let parked = support::read::dead_letters(&kafka, &parking, 1).await;
    let record = &parked[0];
    let big = &recorded[0];
    assert_eq!(record.key, "File-1");
    assert_eq!(record.header(headers::EVENT_ID), big.event_id.to_string());
    assert_eq!(record.header(headers::EVENT_TYPE), "Uploaded");
    assert_eq!(record.header(headers::STREAM_ID), "File-1");
    assert_eq!(record.header(headers::GLOBAL_POSITION), "1");
    assert_eq!(record.header("meta-tenant"), "acme");
    assert_eq!(record.header(headers::DLQ_STAGE), "relay");
    assert_eq!(
        record.header(headers::DLQ_ORIGINAL_TOPIC),
        format!("{prefix}File")
    );
    assert!(
        record.header(headers::DLQ_ERROR).contains("too large"),
        "the reason is kept: {record:?}"
    );
    assert_eq!(record.header(headers::DLQ_TRUNCATED), "true");
    assert_eq!(
        record.header(headers::DLQ_ORIGINAL_VALUE_BYTES),
        big.payload.len().to_string()
    );
    assert_eq!(record.payload, big.payload.as_str()[..100]);
    relay.shutdown().await.expect("clean shutdown");
    assert_eq!(store.load_checkpoint("kafka-relay").await.unwrap(), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_for_a_missing_topic_is_retried_until_the_topic_exists_not_parked() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("missing"));
    let (topic, ghost, parking) = (
        format!("{prefix}File"),
        format!("{prefix}Ghost"),
        format!("{prefix}parked"),
    );
    support::create_topics(&kafka, &[topic.clone(), parking.clone()]).await;
    let store = Arc::new(InMemoryEventStore::new());
    for (stream, n) in [("File-1", 1), ("Ghost-1", 2), ("File-2", 3)] {
        let payload = JsonPayload::parse(format!(r#"{{"n":{n}}}"#)).unwrap();
        let event = NewEvent::raw("Renamed", 1, payload);
        store
            .append(
                stream,
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
    let config = RelayConfig {
        topics: TopicMapping::by_category().with_prefix(&prefix),
        on_refused: RefusedEvents::park(&parking),
        retry_backoff: RetryPolicy::between(Duration::from_millis(50), Duration::from_millis(500)),
        delivery_timeout: Duration::from_secs(2),
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(config)
        .spawn();
    let mut progress = relay.watch();
    tokio::time::timeout(
        Duration::from_secs(30),
        progress.wait_for(|p| p.last_error.as_deref().is_some_and(|e| e.contains("Ghost"))),
    )
    .await
    .expect("the missing topic is reported")
    .expect("relay running");
    assert_eq!(
        relay.progress().checkpoint,
        1,
        "nothing past the event is checkpointed"
    );
    support::create_topics(&kafka, std::slice::from_ref(&ghost)).await;
    relay
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .expect("the relay resumes once the topic exists");
    assert_eq!(relay.progress().parked, 0);
    relay.shutdown().await.expect("clean shutdown");
    let published = support::read_topics(
        &kafka,
        &[topic, ghost.clone()],
        3,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
    .await;
    // Events acknowledged after the failed one are sent again with it (at least once),
    // but the failed one is never skipped.
    let copies = support::copies_by_event_id(&published);
    assert_eq!(copies.len(), 3, "every event published: {published:#?}");
    assert!(
        published
            .iter()
            .any(|m| m.topic == ghost && m.header(headers::GLOBAL_POSITION) == "2"),
        "the event for the missing topic arrives once it exists"
    );
}
