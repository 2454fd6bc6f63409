//! Whether a Kafka client error can go away by itself: the one classification the relay
//! and the dead-letter producer share.

use cqrs_core::FailureKind;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// How a producer error is treated: [`FailureKind::Permanent`] when the same message can
/// never be accepted as is (too large, invalid, not authorized, the topic invalid or
/// missing from the cluster), [`FailureKind::Transient`] otherwise (broker unreachable,
/// timed out, no leader, queue full, ...), including errors without a code.
///
/// A missing topic is permanent only as librdkafka's local `UnknownTopic`, which it reports
/// once the cluster's metadata said for `topic.metadata.propagation.max.ms` (default 30 s)
/// that the topic does not exist; the broker's `UnknownTopicOrPartition`, seen while a
/// topic is being created or a leader elected, stays transient.
///
/// ```
/// use cqrs_core::FailureKind;
/// use rdkafka::error::{KafkaError, RDKafkaErrorCode};
///
/// let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
/// assert_eq!(cqrs_kafka::classify(&too_large), FailureKind::Permanent);
/// let down = KafkaError::MessageProduction(RDKafkaErrorCode::BrokerTransportFailure);
/// assert_eq!(cqrs_kafka::classify(&down), FailureKind::Transient);
/// ```
pub fn classify(error: &KafkaError) -> FailureKind {
    use RDKafkaErrorCode::*;
    let Some(code) = error.rdkafka_error_code() else {
        return FailureKind::Transient;
    };
    let permanent = matches!(
        code,
        MessageSizeTooLarge
            | InvalidMessageSize
            | InvalidMessage
            | InvalidTopic
            | UnknownTopic
            | InvalidRecord
            | MessageBatchTooLarge
            | TopicAuthorizationFailed
            | ClusterAuthorizationFailed
            | TransactionalIdAuthorizationFailed
            | UnsupportedForMessageFormat
            | InvalidArgument
            | Fatal
    );
    if permanent {
        FailureKind::Permanent
    } else {
        FailureKind::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_message_are_permanent_and_outages_transient() {
        let kind = |code| classify(&KafkaError::MessageProduction(code));
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::InvalidTopic,
            RDKafkaErrorCode::UnknownTopic,
        ] {
            assert_eq!(kind(code), FailureKind::Permanent, "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::QueueFull,
        ] {
            assert_eq!(kind(code), FailureKind::Transient, "{code:?}");
        }
        assert_eq!(classify(&KafkaError::Canceled), FailureKind::Transient);
    }
}
