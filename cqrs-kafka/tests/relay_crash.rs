//! Killing the relay between sends and acknowledgements loses nothing: the next relay
//! resumes from the stored checkpoint, and only events after it can arrive twice.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{EventStore, InMemoryEventStore};
use cqrs_kafka::{EventRelay, KafkaConfig, RelayConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_stream_republishes_only_the_unacknowledged_tail() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (prefix, topics) = support::publish::category_topics("crash");
    support::create_topics(&kafka, &topics).await;
    let store = Arc::new(InMemoryEventStore::new());
    let appended = support::append_events(&*store, 50, 10_000).await;
    let config = RelayConfig {
        batch_size: 250,
        max_in_flight: 1_000,
        checkpoint_interval: Duration::from_millis(20),
        ..support::publish::relay_config(&prefix)
    };

    // Kill the first relay once it checkpointed some events and has more in flight.
    let first = EventRelay::new(store.clone(), kafka.clone())
        .with_config(config.clone())
        .spawn();
    let mut progress = first.watch();
    let at_kill = tokio::time::timeout(
        Duration::from_secs(60),
        progress.wait_for(|p| p.checkpoint >= 2_000 && p.sent_position > p.acked_position),
    )
    .await
    .expect("the relay makes progress")
    .expect("progress watch")
    .clone();
    first.abort();
    let checkpoint = store
        .load_checkpoint("kafka-relay")
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(
        checkpoint < 10_000,
        "killed mid-stream (checkpoint {checkpoint}, progress {at_kill:?})"
    );

    let second = EventRelay::new(store.clone(), kafka.clone())
        .with_config(config)
        .spawn();
    second
        .wait_until_caught_up(Duration::from_secs(120))
        .await
        .expect("second relay catches up");
    second.shutdown().await.expect("clean shutdown");

    let received = support::read_topics(
        &kafka,
        &topics,
        10_000,
        Duration::from_secs(3),
        Duration::from_secs(120),
    )
    .await;
    let copies = support::copies_by_event_id(&received);
    let mut duplicated = 0;
    for event in &appended {
        let count = copies
            .get(event.event_id.to_string().as_str())
            .copied()
            .unwrap_or(0);
        assert!(count >= 1, "event at position {} was lost", event.position);
        if count > 1 {
            duplicated += 1;
            assert!(
                event.position > checkpoint,
                "position {} duplicated although checkpointed ({checkpoint})",
                event.position
            );
        }
    }
    println!(
        "checkpoint at kill {checkpoint}, progress {at_kill:?}, duplicated events {duplicated}"
    );
}
