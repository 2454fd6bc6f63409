//! Why a consumer runner stopped.

use rdkafka::error::KafkaError;

/// A consumer runner failure.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The consumer or the dead-letter producer could not be created, or the subscription
    /// was refused (bad configuration).
    #[error("consumer group `{group}`: cannot set up the Kafka client: {source}")]
    Setup {
        /// Consumer group.
        group: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },

    /// A message could not be handled and no dead-letter topic is configured, so the
    /// runner stopped rather than skip it. Its offset is not committed.
    #[error("consumer group `{group}`: poison message at {at} and no dead-letter topic: {reason}")]
    Poison {
        /// Consumer group.
        group: String,
        /// Topic, partition and offset.
        at: String,
        /// Why it could not be handled.
        reason: String,
    },

    /// The dead-letter topic refused a poison message for good, and then its bounded copy
    /// too (e.g. the topic does not exist, or the producer is not authorized). The runner
    /// stopped rather than skip the message or retry forever; its offset is not committed.
    #[error("consumer group `{group}`: the dead-letter topic `{topic}` refused the poison message at {at} ({reason}), even as a bounded copy: {source}")]
    DeadLetterRefused {
        /// Consumer group.
        group: String,
        /// The dead-letter topic.
        topic: String,
        /// Topic, partition and offset of the poison message.
        at: String,
        /// Why the message was poison.
        reason: String,
        /// Why the dead-letter topic refused the bounded copy.
        #[source]
        source: Box<KafkaError>,
    },
}
