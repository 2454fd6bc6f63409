//! The producer of command and reply messages: idempotent, `acks=all`, small linger.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::logging::TracingContext;
use crate::KafkaConfig;

/// A producer that waits for the broker's acknowledgement of each message it sends.
pub(crate) struct Producer {
    producer: FutureProducer<TracingContext>,
}

impl Producer {
    /// Idempotent, `acks=all`; a message not acknowledged within `delivery_timeout` fails
    /// (`MessageTimedOut`, transient); a topic the cluster does not have fails as
    /// `UnknownTopic` (permanent) after 10 s.
    pub(crate) fn new(
        kafka: &KafkaConfig,
        delivery_timeout: Duration,
        linger: Duration,
        max_message_bytes: usize,
    ) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger.as_millis().to_string())
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().max(1).to_string(),
            )
            .set("topic.metadata.propagation.max.ms", "10000")
            .set("message.max.bytes", max_message_bytes.to_string());
        Ok(Self {
            producer: config.create_with_context(TracingContext)?,
        })
    }

    /// Sends one message and waits for the broker's acknowledgement.
    pub(crate) async fn send(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), KafkaError> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
