//! An event the broker can never accept stops the relay with the error instead of being
//! skipped: the checkpoint stays before it. Needs no broker: librdkafka refuses a message
//! above `message.max.bytes` when it is produced.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent};
use cqrs_kafka::{EventRelay, KafkaConfig, RelayConfig, RelayError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_stops_the_relay_without_skipping_it() {
    let store = Arc::new(InMemoryEventStore::new());
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(5_000));
    let events = vec![
        NewEvent::raw("Uploaded", 1, JsonPayload::parse(big).unwrap()),
        NewEvent::raw("Uploaded", 1, JsonPayload::parse("{}").unwrap()),
    ];
    store
        .append(
            "File-1",
            ExpectedVersion::NoStream,
            events,
            &Metadata::default(),
        )
        .await
        .unwrap();
    // Nothing listens there: only the local size check can answer.
    let kafka = KafkaConfig::new(format!("127.0.0.1:{}", support::broker::free_port()))
        .set("message.max.bytes", "1000");
    let config = RelayConfig {
        retry_backoff: (Duration::from_millis(10), Duration::from_millis(10)),
        ..RelayConfig::default()
    };
    let relay = EventRelay::new(store.clone(), kafka)
        .with_config(config)
        .spawn();

    let waited = relay.wait_until_caught_up(Duration::from_secs(10)).await;
    assert!(
        matches!(waited, Err(RelayError::Stopped { .. })),
        "the relay stops instead of retrying: {waited:?}"
    );
    let progress = relay.progress();
    assert_eq!(
        (progress.sent, progress.acked, progress.checkpoint),
        (0, 0, 0)
    );
    let error = relay.shutdown().await.expect_err("the relay failed");
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
