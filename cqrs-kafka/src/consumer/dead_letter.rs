//! The dead-letter topic: where poison messages go, with the reason in the headers, whole
//! or, when the topic refuses the whole message, as a bounded copy.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::message::IncomingMessage;
use crate::bounded::{bounded_copy, truncate_text, MAX_TEXT_HEADER_BYTES};
use crate::logging::TracingContext;
use crate::{headers, KafkaConfig};

/// Publishes poison messages to the dead-letter topic: the original key, value and
/// headers, plus [`DLQ_ERROR`](headers::DLQ_ERROR), [`DLQ_STAGE`](headers::DLQ_STAGE),
/// [`DLQ_ORIGINAL_TOPIC`](headers::DLQ_ORIGINAL_TOPIC),
/// [`DLQ_ORIGINAL_PARTITION`](headers::DLQ_ORIGINAL_PARTITION) and
/// [`DLQ_ORIGINAL_OFFSET`](headers::DLQ_ORIGINAL_OFFSET).
///
/// [`send_bounded`](DeadLetters::send_bounded) sends the bounded copy for a message the
/// topic refused whole.
pub(crate) struct DeadLetters {
    topic: String,
    producer: FutureProducer<TracingContext>,
    max_value_bytes: usize,
}

impl DeadLetters {
    /// An idempotent producer to `topic` accepting messages up to `max_message_bytes`,
    /// whose bounded copies keep `max_value_bytes` of the value.
    pub(crate) fn new(
        kafka: &KafkaConfig,
        topic: &str,
        max_message_bytes: usize,
        max_value_bytes: usize,
    ) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            // A dead-letter topic missing from the cluster must fail as `UnknownTopic`
            // (permanent: the bounded copy, then a typed stop) before the message times
            // out as `MessageTimedOut` (transient: retried forever).
            .set("topic.metadata.propagation.max.ms", "10000")
            .set("message.max.bytes", max_message_bytes.to_string());
        Ok(Self {
            topic: topic.to_owned(),
            producer: config.create_with_context(TracingContext)?,
            max_value_bytes,
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
        let error = truncate_text(error, MAX_TEXT_HEADER_BYTES);
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
        self.deliver(record).await
    }

    /// Publishes the bounded copy of `message` (see [`bounded_copy`]): the headers that
    /// fit, the reason and origin, why the whole message was refused, the first bytes of
    /// the value. The key is kept when it fits the same bound.
    pub(crate) async fn send_bounded(
        &self,
        message: &IncomingMessage<'_>,
        stage: &str,
        error: &str,
        refused: &KafkaError,
    ) -> Result<(), KafkaError> {
        let source = message.source();
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let refused = refused.to_string();
        let copy = bounded_copy(
            message.headers(),
            message.payload(),
            (self.max_value_bytes, self.max_value_bytes),
            &[
                (headers::DLQ_ERROR, error),
                (headers::DLQ_STAGE, stage),
                (headers::DLQ_ORIGINAL_TOPIC, source.topic),
                (headers::DLQ_ORIGINAL_PARTITION, &partition),
                (headers::DLQ_ORIGINAL_OFFSET, &offset),
                (headers::DLQ_PUBLISH_ERROR, &refused),
            ],
        );
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(copy.headers);
        if let Some(key) = message.key().filter(|k| k.len() <= self.max_value_bytes) {
            record = record.key(key);
        }
        if let Some(value) = copy.value {
            record = record.payload(value);
        }
        self.deliver(record).await
    }

    async fn deliver(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
