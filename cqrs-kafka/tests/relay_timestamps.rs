//! The relay does not stamp Kafka messages with the events' commit times: a relay
//! catching up events recorded long ago would make time-based retention delete them at
//! once. The message timestamp is the send time; the commit time stays in `recorded-at`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent,
    PositionWatch, RecordedEvent, RecordedRefusal, Snapshot, StoreError,
};
use cqrs_kafka::{headers, EventRelay, KafkaConfig, RelayConfig, TopicMapping};
use uuid::Uuid;

/// An in-memory store whose events read as recorded on 2001-09-09 (a store migrated from
/// an older system, or a relay started years after the first commit).
struct RecordedLongAgo(InMemoryEventStore);

fn long_ago() -> DateTime<Utc> {
    DateTime::from_timestamp(1_000_000_000, 0).expect("valid time")
}

#[async_trait]
impl EventStore for RecordedLongAgo {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        self.0.append(stream_id, expected, events, metadata).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_stream(stream_id, from).await
    }
    async fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.0.read_all(from, max).await?;
        for event in &mut events {
            event.recorded_at = long_ago();
        }
        Ok(events)
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.0.head_position().await
    }
    fn subscribe(&self) -> PositionWatch {
        self.0.subscribe()
    }
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.0.load_snapshot(stream_id).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.0.save_snapshot(snapshot).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.0.load_checkpoint(name).await
    }
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.0.save_checkpoint(name, position).await
    }
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_events_by_id(ids).await
    }
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        self.0.record_refusal(refusal).await
    }
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        self.0.load_refusal(command_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_event_is_published_with_the_send_time_and_its_commit_time_in_the_header() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let prefix = format!("{}.", support::unique("timestamps"));
    let topic = format!("{prefix}Order");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;
    let store = Arc::new(RecordedLongAgo(InMemoryEventStore::new()));
    let placed = NewEvent::raw("OrderPlaced", 1, JsonPayload::parse("{}").unwrap());
    store
        .append(
            "Order-1",
            ExpectedVersion::NoStream,
            vec![placed],
            &Metadata::default(),
        )
        .await
        .unwrap();
    let config = RelayConfig {
        topics: TopicMapping::by_category().with_prefix(&prefix),
        ..RelayConfig::default()
    };
    let before = Utc::now();
    let relay = EventRelay::new(store, kafka.clone())
        .with_config(config)
        .spawn();
    relay
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .expect("relayed");
    relay.shutdown().await.expect("clean shutdown");

    let received = support::read_topics(
        &kafka,
        &[topic],
        1,
        Duration::from_millis(200),
        Duration::from_secs(30),
    )
    .await;
    let message = &received[0];
    let stamped = message
        .timestamp
        .and_then(DateTime::from_timestamp_millis)
        .expect("the message has a timestamp");
    let drift = (stamped - before).num_seconds();
    assert!(
        (-5..60).contains(&drift),
        "stamped near the send time, not the commit time: {stamped}"
    );
    let recorded = DateTime::parse_from_rfc3339(message.header(headers::RECORDED_AT))
        .expect("recorded-at is RFC 3339");
    assert_eq!(
        recorded,
        long_ago(),
        "the commit time is kept in the header"
    );
}
