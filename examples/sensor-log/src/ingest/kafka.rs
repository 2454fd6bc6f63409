//! The writer job in services mode: a [`cqrs_kafka::ConsumerRunner`] feeding the
//! [`Ingestor`] from both device topics.
//!
//! - **Consumer group** ([`WriterConfig::group_id`]): run several writers with the same
//!   group to share the partitions.
//! - **Offsets are committed only after the rows are durable**: the handler returns once
//!   the batch insert committed, and the runner commits an offset only after its handler
//!   returned `Ok`. A crash in between redelivers the message, and the insert, idempotent
//!   on `(sensor_id, ts)`, stores nothing twice.
//! - **Malformed messages** go to the dead-letter topic at once (no retries: they would
//!   fail the same way), with the reason in the `dlq-error` header (see
//!   [`cqrs_kafka::headers`]): `dlq-stage: decode` for values that are not JSON at all,
//!   `dlq-stage: handler` with the [`Rejection`](crate::device::Rejection) text (e.g.
//!   `out_of_range at [0].cpu: 120 is outside 0..=100`) for everything else. The job
//!   keeps going.
//! - **Database outages** are retried with backoff, forever, without skipping or
//!   committing anything.
//!
//! Batching: every Kafka message (a device's JSON array) is stored with one statement.
//! Producers that send many readings per message get the throughput of batch inserts;
//! the runner does not yet coalesce several messages into one insert.

use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{RecordedEvent, RetryPolicy};
use cqrs_kafka::{
    ConsumerConfig, ConsumerError, ConsumerRunner, HandlerError, KafkaConfig, MessageHandler,
    MessageSource, RawJsonDecoder, RunningConsumer,
};

use super::{IngestError, Ingestor, Topics};

/// How the writer consumes.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Consumer group id. Default `sensor-log-writer`.
    pub group_id: String,
    /// Topic names.
    pub topics: Topics,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            group_id: "sensor-log-writer".into(),
            topics: Topics::default(),
        }
    }
}

/// The consumer runner's handler: routes each message to the [`Ingestor`] by topic.
pub struct DeviceHandler {
    ingestor: Ingestor,
    topics: Topics,
}

impl DeviceHandler {
    /// A handler storing through `ingestor`.
    pub fn new(ingestor: Ingestor, topics: Topics) -> Self {
        Self { ingestor, topics }
    }
}

#[async_trait]
impl MessageHandler for DeviceHandler {
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        source: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        let raw = event.payload.as_str().as_bytes();
        let result = if source.topic == self.topics.readings {
            self.ingestor.readings(raw).await.map(|ingested| {
                tracing::debug!(at = %source, received = ingested.received, stored = ingested.stored, "readings stored");
            })
        } else if source.topic == self.topics.sensors {
            self.ingestor.sensor(raw).await.map(|sensor| {
                tracing::debug!(at = %source, sensor = sensor.id, "sensor metadata stored");
            })
        } else {
            tracing::warn!(at = %source, "message from an unexpected topic ignored");
            Ok(())
        };
        match result {
            Ok(()) => Ok(()),
            Err(IngestError::Rejected(rejection)) => Err(HandlerError::rejected(rejection)),
            Err(IngestError::Store(error)) => Err(HandlerError::transient(error)),
        }
    }
}

/// Starts the writer job: consumes both device topics of `config` with its group and
/// stores through `ingestor`. The topics must exist (see [`cqrs_kafka::create_topics`]).
pub fn spawn_writer(
    kafka: KafkaConfig,
    config: WriterConfig,
    ingestor: Ingestor,
) -> Result<RunningConsumer<DeviceHandler>, ConsumerError> {
    let topics = config.topics.clone();
    let mut consumer = ConsumerConfig::new(
        config.group_id,
        [topics.readings.clone(), topics.sensors.clone()],
    )
    .with_dead_letter_topic(topics.dead_letter.clone());
    consumer.retry = RetryPolicy::never();
    consumer.commit_interval = Duration::from_millis(500);
    let handler = DeviceHandler::new(ingestor, topics);
    ConsumerRunner::new(kafka, consumer, handler)
        .with_decoder(RawJsonDecoder::default())
        .spawn()
}
