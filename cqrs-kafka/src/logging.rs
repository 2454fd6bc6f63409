//! librdkafka's logs and client errors, forwarded to `tracing`.

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

/// A client context that forwards librdkafka's log lines and errors to `tracing`
/// (target `librdkafka`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
    }
}

pub(crate) fn log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// Client-level errors (broker down, all brokers down) are transient and retried by
/// librdkafka; they are logged as warnings, the relay and runner react to the failures
/// they cause.
///
/// An end-of-partition report (`enable.partition.eof`, which the consumers turn on to know
/// when a partition is caught up) is progress, not a failure: it is logged at debug.
pub(crate) fn client_error(error: &KafkaError, reason: &str) {
    if is_partition_end(error) {
        tracing::debug!(target: "librdkafka", %error, "{reason}");
    } else {
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }
}

fn is_partition_end(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode;
    matches!(error, KafkaError::PartitionEOF(_))
        || error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF)
}

#[cfg(test)]
mod tests {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn partition_ends_are_not_failures() {
        assert!(super::is_partition_end(&KafkaError::PartitionEOF(2)));
        assert!(super::is_partition_end(&KafkaError::Global(
            RDKafkaErrorCode::PartitionEOF
        )));
        assert!(!super::is_partition_end(&KafkaError::Global(
            RDKafkaErrorCode::AllBrokersDown
        )));
    }
}
