//! The writer job in services mode: a [`cqrs_kafka::BatchConsumerRunner`] feeding the
//! [`Ingestor`] from both device topics, many messages at a time.
//!
//! - **Consumer group** ([`WriterConfig::group_id`]): run several writers with the same
//!   group to share the partitions.
//! - **Batches**: the runner hands up to [`WriterConfig::max_batch_len`] messages at once
//!   (whatever arrived within [`WriterConfig::max_batch_wait`] of the first). The handler
//!   validates each message on its own, then stores the readings of all the valid ones
//!   with **one** statement (one transaction): one round trip per batch instead of per
//!   message.
//! - **Offsets are committed only after the rows are durable**: the handler returns once
//!   the batch insert committed, and the runner commits a batch's offsets only after its
//!   handler returned `Ok`. A crash in between redelivers the whole batch, and the
//!   insert, idempotent on `(sensor_id, ts)`, stores nothing twice.
//! - **Malformed messages** go to the dead-letter topic at once (no retries: they would
//!   fail the same way), with the reason in the `dlq-error` header (see
//!   [`cqrs_kafka::headers`]): `dlq-stage: decode` for values that are not JSON at all,
//!   `dlq-stage: handler` with the [`Rejection`](crate::device::Rejection) text (e.g.
//!   `out_of_range at [0].cpu: 120 is outside 0..=100`) for everything else. The other
//!   messages of their batch are stored; the job keeps going.
//! - **Database failures are classified** by SQLSTATE ([`StoreError::kind`], from
//!   [`cqrs_postgres::classify`]). Transient ones (connection lost, timeout, serialization
//!   failure, server shutting down: classes 08, 40, 53, 57, ...) are retried with backoff,
//!   forever, the whole batch each time, without skipping or committing anything.
//!   Permanent ones (a data exception such as a NUL in text, a constraint, a program
//!   limit: classes 22, 23, 54, ...) can never succeed, so they must not be retried:
//!   - a sensor metadata message is stored with its own statement, so the message whose
//!     upsert PostgreSQL refused is dead-lettered on its own, with the refusal as reason;
//!   - the readings of a batch are stored with one statement, so a refusal is returned as
//!     [`HandlerError::Rejected`] for the whole batch: the runner then hands its messages
//!     one at a time (see cqrs-kafka's README, "Batches"), the good ones are stored and only
//!     the one PostgreSQL refuses is dead-lettered. The writer keeps going.
//!
//! Validation ([`crate::device`]) refuses what PostgreSQL would (NUL and other control
//! characters in text, over-long text, out-of-range values) before it reaches the
//! database; the classification is the second line, for what validation cannot know
//! (an operator's CHECK constraint, a changed column type).

use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{BoxError, FailureKind, RetryPolicy};
use cqrs_kafka::{
    Batch, BatchConsumerRunner, BatchHandler, ConsumerConfig, ConsumerError, HandlerError,
    KafkaConfig, RawJsonDecoder, RunningConsumer,
};

use super::{IngestError, Ingestor, Topics};
use crate::store::StoreError;

/// How the writer consumes.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Consumer group id. Default `sensor-log-writer`.
    pub group_id: String,
    /// Topic names.
    pub topics: Topics,
    /// Most messages stored with one statement. Default 100 (10,000 readings for devices
    /// sending 100 per message).
    pub max_batch_len: usize,
    /// How long a batch waits for more messages after its first one. Default 10 ms.
    pub max_batch_wait: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            group_id: "sensor-log-writer".into(),
            topics: Topics::default(),
            max_batch_len: 100,
            max_batch_wait: Duration::from_millis(10),
        }
    }
}

/// The consumer runner's handler: validates each message by topic, stores the readings
/// of a whole batch at once.
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
impl BatchHandler for DeviceHandler {
    async fn handle_batch(&mut self, batch: &mut Batch<'_>) -> Result<(), HandlerError> {
        let mut readings = Vec::new();
        let mut rejected = Vec::new();
        for item in batch.iter() {
            let (source, raw) = (item.source(), item.event().payload.as_str().as_bytes());
            if source.topic == self.topics.readings {
                match self.ingestor.validate(raw) {
                    Ok(valid) => readings.extend(valid),
                    Err(rejection) => rejected.push((item.index(), rejection.into())),
                }
            } else if source.topic == self.topics.sensors {
                match self.ingestor.sensor(raw).await {
                    Ok(sensor) => {
                        tracing::debug!(at = %source, sensor = sensor.id, "sensor metadata stored");
                    }
                    Err(IngestError::Rejected(rejection)) => {
                        rejected.push((item.index(), rejection.into()));
                    }
                    Err(IngestError::Store(error)) => match error.kind() {
                        // Only this message's statement failed: dead-letter it alone.
                        FailureKind::Permanent => {
                            tracing::warn!(at = %source, %error, "sensor metadata refused by the database; dead-lettering it");
                            rejected.push((item.index(), Box::new(error) as BoxError));
                        }
                        FailureKind::Transient => return Err(HandlerError::transient(error)),
                    },
                }
            } else {
                tracing::warn!(at = %source, "message from an unexpected topic ignored");
            }
        }
        let stored = self
            .ingestor
            .store(&readings)
            .await
            .map_err(|error| readings_failed(error, batch.len()))?;
        tracing::debug!(
            messages = batch.len(),
            rejected = rejected.len(),
            received = readings.len(),
            stored,
            "batch of readings stored"
        );
        for (index, rejection) in rejected {
            batch.reject(index, rejection);
        }
        Ok(())
    }
}

/// How a failed insert of a batch's readings is reported to the runner: transient errors
/// are retried, a permanent one rejects the batch, which the runner then splits.
fn readings_failed(error: StoreError, messages: usize) -> HandlerError {
    if error.kind() == FailureKind::Permanent {
        tracing::warn!(%error, messages, "the database refused the readings of a batch for good; rejecting the batch (the runner splits a batch of several and dead-letters a single message)");
    }
    HandlerError::classified(error.kind(), error)
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
    .with_dead_letter_topic(topics.dead_letter.clone())
    .with_batches(config.max_batch_len, config.max_batch_wait);
    consumer.retry = RetryPolicy::never();
    // A device message larger than the dead-letter producer accepts (1,000,000 bytes) is
    // dead-lettered as a bounded copy: its reason, origin and first 64 KiB.
    consumer.commit_interval = Duration::from_millis(500);
    let handler = DeviceHandler::new(ingestor, topics);
    BatchConsumerRunner::new(kafka, consumer, handler)
        .with_decoder(RawJsonDecoder::default())
        .spawn()
}
