//! Why the relay failed to publish, and whether retrying can help.

use std::sync::Arc;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use cqrs_core::StoreError;

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

    /// The relay is not running any more.
    #[error("relay `{relay}` stopped: {reason}")]
    Stopped {
        /// Checkpoint name of the relay.
        relay: String,
        /// Why.
        reason: String,
    },

    /// A wait for the relay did not complete in time.
    #[error("relay `{relay}` did not checkpoint position {target} within {waited:?} (checkpoint {checkpoint})")]
    Timeout {
        /// Checkpoint name of the relay.
        relay: String,
        /// Position waited for.
        target: u64,
        /// Checkpoint reached.
        checkpoint: u64,
        /// Time waited.
        waited: std::time::Duration,
    },
}

impl RelayError {
    /// True when retrying later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            RelayError::Publish { source, .. } => !is_permanent(source),
            RelayError::ProducerGone { .. } => true,
            RelayError::Store { source, .. } => source.is_transient(),
            RelayError::Producer { .. }
            | RelayError::Stopped { .. }
            | RelayError::Timeout { .. } => false,
        }
    }
}

/// Errors after which the same message can never be accepted.
fn is_permanent(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    let Some(code) = error.rdkafka_error_code() else {
        return false;
    };
    matches!(
        code,
        MessageSizeTooLarge
            | InvalidMessageSize
            | InvalidMessage
            | InvalidTopic
            | InvalidRecord
            | MessageBatchTooLarge
            | TopicAuthorizationFailed
            | ClusterAuthorizationFailed
            | TransactionalIdAuthorizationFailed
            | UnsupportedForMessageFormat
            | InvalidArgument
            | Fatal
    )
}
