//! Tuning of the [`EventRelay`](super::EventRelay).

use std::time::Duration;

use cqrs_core::{RetryPolicy, StoreLimits};

use crate::{headers, TopicMapping};

/// What the relay does with an event the broker refuses for good (larger than
/// [`RelayConfig::max_message_bytes`], topic not authorized, invalid or missing).
///
/// The default is [`Stop`](RefusedEvents::Stop): consumers of a stream then never see it
/// with a hole, nothing is published past the refused event until someone decides, and
/// the stop is visible ([`RunningRelay::state`](crate::RunningRelay::state) reads
/// `Failed` naming the position, the error is logged at error level). Size refusals are
/// best prevented at the store: limit the category's payloads to
/// [`RelayConfig::max_payload_bytes`] with
/// [`StoreLimits::with_category_max_payload`](cqrs_core::StoreLimits::with_category_max_payload),
/// so a command that writes a too large event is refused (`InvalidInput`) instead of the
/// relay later. Choose [`Park`](RefusedEvents::Park) when the other streams must keep
/// flowing whatever happens, and consumers can live with a parked event missing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RefusedEvents {
    /// Stop the relay with [`RelayError::Publish`](crate::RelayError::Publish) naming the
    /// position; nothing at or after it is checkpointed, so a restarted relay (with a
    /// larger `max_message_bytes`, the topic fixed, ...) resumes at that event.
    #[default]
    Stop,
    /// Publish a bounded record of the event to `topic` and go on. The record has the
    /// event's key and envelope headers (event id, type, stream, position, ...), the reason
    /// in [`DLQ_ERROR`](headers::DLQ_ERROR), the topic it was meant for in
    /// [`DLQ_ORIGINAL_TOPIC`](headers::DLQ_ORIGINAL_TOPIC), `dlq-stage` = `relay`, the
    /// truncation headers ([`DLQ_TRUNCATED`](headers::DLQ_TRUNCATED),
    /// [`DLQ_ORIGINAL_VALUE_BYTES`](headers::DLQ_ORIGINAL_VALUE_BYTES)) and the first
    /// [`RelayConfig::parked_max_payload_bytes`] of the payload. The checkpoint moves past
    /// the event only once the broker acknowledged that record. The topic must exist.
    Park {
        /// The parking topic.
        topic: String,
    },
}

impl RefusedEvents {
    /// [`RefusedEvents::Park`] on `topic`.
    pub fn park(topic: impl Into<String>) -> Self {
        RefusedEvents::Park {
            topic: topic.into(),
        }
    }
}

/// Bytes of a relayed message other than the payload, at most, for a store that enforces
/// `limits` (its stream id, event type and metadata limits bound the key and headers).
fn envelope_reserve_bytes(limits: &StoreLimits) -> usize {
    /// librdkafka's per-record overhead (`RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD`, 36) and a
    /// record batch header (61), rounded up.
    const RECORD: usize = 128;
    /// Varint key and value lengths of one header.
    const PER_HEADER: usize = 10;
    const UUID: usize = 36;
    const NUMBER: usize = 20;
    const TIME: usize = 40;
    let stream_id = limits.max_stream_id_bytes;
    let names = headers::EVENT_ID.len()
        + headers::EVENT_TYPE.len()
        + headers::EVENT_VERSION.len()
        + headers::STREAM_ID.len()
        + headers::STREAM_VERSION.len()
        + headers::GLOBAL_POSITION.len()
        + headers::RECORDED_AT.len()
        + headers::CORRELATION_ID.len()
        + headers::CAUSATION_ID.len();
    let values = UUID
        + limits.max_event_type_bytes
        + NUMBER
        + stream_id
        + NUMBER
        + NUMBER
        + TIME
        + UUID
        + UUID;
    // Metadata headers are counted with their framing (`meta-` and two varints) by
    // `StoreLimits::max_metadata_bytes` itself.
    RECORD + stream_id /* the key */ + 9 * PER_HEADER + names + values + limits.max_metadata_bytes
}

/// How the relay reads, publishes and checkpoints.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Name of the relay's checkpoint in the event store. Default `kafka-relay`. Two
    /// relays with different names publish the log independently (e.g. to two clusters).
    pub checkpoint_name: String,
    /// Event to topic mapping. Default: one topic per stream category.
    pub topics: TopicMapping,
    /// Events read from the store per call. Default 1,000.
    pub batch_size: usize,
    /// Most events sent and not yet acknowledged. Default 20,000.
    pub max_in_flight: usize,
    /// While busy, the checkpoint is stored at most this often (and always when the relay
    /// goes idle or shuts down). Everything after the stored checkpoint may be published
    /// again after a crash. Default 200 ms.
    pub checkpoint_interval: Duration,
    /// Fallback poll of the store when no wake-up arrives. Default 1 s.
    pub idle_poll: Duration,
    /// How long librdkafka keeps trying to deliver one message (`message.timeout.ms`)
    /// before the relay sees a timeout, rebuilds its producer and resends from its last
    /// acknowledged position. Default 30 s.
    pub delivery_timeout: Duration,
    /// Backoff after a transient failure (broker unreachable, store unavailable), which the
    /// relay retries for as long as it lasts: only the policy's backoff is used, never its
    /// `max_attempts`. Default [`RetryPolicy::between`] 100 ms and 10 s.
    pub retry_backoff: RetryPolicy,
    /// `linger.ms`: how long the producer waits to fill a batch. Default 5 ms.
    pub linger: Duration,
    /// `message.max.bytes` of the producer: the largest message (key, value, headers and
    /// record overhead) it sends; a larger event is refused for good and treated per
    /// [`on_refused`](Self::on_refused). Default 1,000,000, librdkafka's default; the
    /// broker's and the topic's limits (`message.max.bytes`, `max.message.bytes`) must be
    /// at least as large. Overrides a `message.max.bytes` set in the
    /// [`KafkaConfig`](crate::KafkaConfig). See [`max_payload_bytes`](Self::max_payload_bytes)
    /// to align the store.
    pub max_message_bytes: usize,
    /// What to do with an event the broker refuses for good. Default
    /// [`RefusedEvents::Stop`]; see there for why.
    pub on_refused: RefusedEvents,
    /// Bytes of the payload a parked record keeps ([`RefusedEvents::Park`]). Default 64 KiB.
    pub parked_max_payload_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            checkpoint_name: "kafka-relay".to_owned(),
            topics: TopicMapping::by_category(),
            batch_size: 1_000,
            max_in_flight: 20_000,
            checkpoint_interval: Duration::from_millis(200),
            idle_poll: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(30),
            retry_backoff: RetryPolicy::between(
                Duration::from_millis(100),
                Duration::from_secs(10),
            ),
            linger: Duration::from_millis(5),
            max_message_bytes: 1_000_000,
            on_refused: RefusedEvents::Stop,
            parked_max_payload_bytes: 64 * 1024,
        }
    }
}

impl RelayConfig {
    /// The largest event payload this relay's producer always accepts from a store that
    /// enforces `limits`: `max_message_bytes` minus room for the key and the envelope
    /// headers, sized by the store's own stream id, event type and metadata limits (which
    /// refuse anything larger at append). Use it as that store's limit for the categories
    /// this relay publishes:
    ///
    /// ```
    /// use cqrs_core::StoreLimits;
    /// use cqrs_kafka::RelayConfig;
    ///
    /// let relay = RelayConfig::default();
    /// let base = StoreLimits::default();
    /// let limits = base.clone().with_category_max_payload("Order", relay.max_payload_bytes(&base));
    /// assert_eq!(limits.max_payload_for("Order-1"), 981_804); // the figure the READMEs give
    /// assert!(limits.max_payload_for("Order-1") < 1_000_000);
    /// // A store that allows more metadata leaves less room for the payload.
    /// let generous = StoreLimits { max_metadata_bytes: 64 * 1024, ..StoreLimits::default() };
    /// assert!(relay.max_payload_bytes(&generous) < relay.max_payload_bytes(&base));
    /// ```
    pub fn max_payload_bytes(&self, limits: &StoreLimits) -> usize {
        self.max_message_bytes
            .saturating_sub(envelope_reserve_bytes(limits))
    }
}
