//! Why the relay failed to publish, and whether retrying can help.

use std::sync::Arc;

use rdkafka::error::KafkaError;

use cqrs_core::{FailureKind, StoreError};

use crate::classify;

/// A relay failure.
///
/// [`is_transient`](RelayError::is_transient) failures (broker unreachable or timing out,
/// topic not there yet, store unavailable) are retried by the relay itself with backoff
/// from its last acknowledged position; the others stop it, because the relay never skips
/// an event.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The producer could not be created (bad configuration).
    #[error("relay `{relay}`: cannot create the Kafka producer: {source}")]
    Producer {
        /// Checkpoint name of the relay.
        relay: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },

    /// The broker did not acknowledge an event (unreachable, timed out, no leader,
    /// topic missing, ...). Transient unless the broker rejects this message for good
    /// (too large, not authorized, invalid topic).
    #[error("relay `{relay}`: publishing position {position} (stream `{stream}`) to topic `{topic}` failed: {source}")]
    Publish {
        /// Checkpoint name of the relay.
        relay: Arc<str>,
        /// Global position of the event.
        position: u64,
        /// Its stream.
        stream: Arc<str>,
        /// The topic it was sent to.
        topic: Arc<str>,
        /// librdkafka's error.
        #[source]
        source: Box<KafkaError>,
    },

    /// The broker refused the event at `position` for good, the relay parks such events
    /// ([`RefusedEvents::Park`](crate::RefusedEvents::Park)), and publishing the parking
    /// record failed: transient failures are retried (the event is sent, refused and
    /// parked again), a permanent one stops the relay with nothing after the event
    /// checkpointed.
    #[error("relay `{relay}`: parking position {position} (stream `{stream}`, refused: {refused}) on topic `{topic}` failed: {source}")]
    Park {
        /// Checkpoint name of the relay.
        relay: Arc<str>,
        /// Global position of the event.
        position: u64,
        /// Its stream.
        stream: Arc<str>,
        /// Why the broker refused the event itself.
        refused: String,
        /// The parking topic.
        topic: Arc<str>,
        /// librdkafka's error for the parking record.
        #[source]
        source: Box<KafkaError>,
    },

    /// The producer went away before acknowledging the event at `position`.
    #[error("relay `{relay}`: the producer was dropped before acknowledging position {position}")]
    ProducerGone {
        /// Checkpoint name of the relay.
        relay: String,
        /// Global position of the event.
        position: u64,
    },

    /// Reading the log or the checkpoint, or storing the checkpoint failed.
    #[error("relay `{relay}`: event store failed: {source}")]
    Store {
        /// Checkpoint name of the relay.
        relay: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

impl RelayError {
    /// True when retrying later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            RelayError::Publish { source, .. } | RelayError::Park { source, .. } => {
                classify(source) == FailureKind::Transient
            }
            RelayError::ProducerGone { .. } => true,
            RelayError::Store { source, .. } => source.is_transient(),
            RelayError::Producer { .. } => false,
        }
    }
}
