//! The dead-letter topic: where poison messages go, with the reason in the headers.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::message::IncomingMessage;
use crate::logging::TracingContext;
use crate::{headers, KafkaConfig};

/// Publishes poison messages to the dead-letter topic: the original key, value and
/// headers, plus [`DLQ_ERROR`](headers::DLQ_ERROR), [`DLQ_STAGE`](headers::DLQ_STAGE),
/// [`DLQ_ORIGINAL_TOPIC`](headers::DLQ_ORIGINAL_TOPIC),
/// [`DLQ_ORIGINAL_PARTITION`](headers::DLQ_ORIGINAL_PARTITION) and
/// [`DLQ_ORIGINAL_OFFSET`](headers::DLQ_ORIGINAL_OFFSET).
pub(crate) struct DeadLetters {
    topic: String,
    producer: FutureProducer<TracingContext>,
}

impl DeadLetters {
    /// An idempotent producer to `topic`.
    pub(crate) fn new(kafka: &KafkaConfig, topic: &str) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000");
        Ok(Self {
            topic: topic.to_owned(),
            producer: config.create_with_context(TracingContext)?,
        })
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes `message` with the reason it was rejected and waits for the broker's
    /// acknowledgement.
    pub(crate) async fn send(
        &self,
        message: &IncomingMessage<'_>,
        stage: &str,
        error: &str,
    ) -> Result<(), KafkaError> {
        let source = message.source();
        let mut out = OwnedHeaders::new();
        for (key, value) in message.headers() {
            out = out.insert(Header { key, value });
        }
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        for (key, value) in [
            (headers::DLQ_ERROR, error),
            (headers::DLQ_STAGE, stage),
            (headers::DLQ_ORIGINAL_TOPIC, source.topic),
            (headers::DLQ_ORIGINAL_PARTITION, partition.as_str()),
            (headers::DLQ_ORIGINAL_OFFSET, offset.as_str()),
        ] {
            out = out.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(out);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
