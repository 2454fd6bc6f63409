//! A consumer's processed position against a real broker: events of one stream (one
//! partition of three) move it to the last event's position although the two other
//! partitions never get a message (they are at their end), a position not published yet is
//! not processed, and events spread over the partitions move it on.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_core::worker::WaitError;
use cqrs_core::{EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent};
use cqrs_kafka::{ConsumerConfig, ConsumerRunner, EventRelay, KafkaConfig, ProjectionHandler};
use support::totals::{Totals, TotalsProjection};

async fn append(store: &InMemoryEventStore, stream: &str, count: usize) -> u64 {
    let events = (0..count)
        .map(|i| {
            let payload = JsonPayload::parse(format!(r#"{{"amount":{}}}"#, i + 1)).expect("json");
            NewEvent::raw("OrderChanged", 1, payload)
        })
        .collect();
    let appended = store
        .append(stream, ExpectedVersion::Any, events, &Metadata::default())
        .await
        .expect("append");
    appended.events.last().expect("appended").position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_partitions_at_their_end_do_not_hold_the_processed_position_back() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (prefix, topics) = support::publish::category_topics("processed-position");
    support::create_topics(&kafka, &topics).await;
    let store = Arc::new(InMemoryEventStore::new());
    let relay = EventRelay::new(store.clone(), kafka.clone().set("batch.num.messages", "1"))
        .with_config(support::publish::relay_config(&prefix))
        .spawn();
    let model = Arc::new(Mutex::new(Totals::default()));
    let consumer = ConsumerRunner::new(
        kafka,
        ConsumerConfig::new(support::unique("processed"), [topics[0].clone()]),
        ProjectionHandler::new(TotalsProjection::new(model.clone())),
    )
    .spawn()
    .expect("consumer");
    let processed = consumer.processed_position();

    let last = append(&store, "Order-1", 5).await;
    assert_eq!(
        processed.wait_for(last, Duration::from_secs(60)).await,
        Ok(last),
        "one partition has the events, two never get one"
    );
    assert_eq!(
        model.lock().unwrap().per_stream["Order-1"],
        15,
        "1 + ... + 5"
    );

    let not_yet = consumer
        .wait_for_position(last + 1, Duration::from_millis(1500))
        .await;
    assert!(
        matches!(&not_yet, Err(WaitError::TimedOut { progress, .. }) if progress.processed_position == last),
        "nothing after {last} is published: {not_yet:?}"
    );

    // More streams, spread over the partitions by their keys.
    let mut later = last;
    for n in 2..8 {
        later = append(&store, &format!("Order-{n}"), 2).await;
    }
    assert_eq!(
        processed.wait_for(later, Duration::from_secs(60)).await,
        Ok(later)
    );
    assert_eq!(model.lock().unwrap().per_stream.len(), 7);

    consumer.shutdown().await.expect("consumer shutdown");
    relay.shutdown().await.expect("relay shutdown");
}
