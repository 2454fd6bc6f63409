//! The Kafka headers that carry a [`RecordedEvent`]'s envelope.
//!
//! The relay writes them; the [`EnvelopeDecoder`](crate::EnvelopeDecoder) reads them back.
//! All values are UTF-8 text.

use rdkafka::message::{Header, OwnedHeaders};

use cqrs_core::RecordedEvent;

/// Event id (UUID).
pub const EVENT_ID: &str = "event-id";
/// Stable event type name.
pub const EVENT_TYPE: &str = "event-type";
/// Payload schema version (decimal).
pub const EVENT_VERSION: &str = "event-version";
/// Stream id (also the message key).
pub const STREAM_ID: &str = "stream-id";
/// 1-based version of the event in its stream (decimal).
pub const STREAM_VERSION: &str = "stream-version";
/// Position in the store's global log (decimal).
pub const GLOBAL_POSITION: &str = "global-position";
/// Commit time, RFC 3339 UTC, with the store's sub-second precision.
pub const RECORDED_AT: &str = "recorded-at";
/// Correlation id (UUID), absent when the event has none.
pub const CORRELATION_ID: &str = "correlation-id";
/// Causation id (UUID), absent when the event has none.
pub const CAUSATION_ID: &str = "causation-id";
/// Prefix of the free-form [`Metadata`](cqrs_core::Metadata) headers: `meta-<key>`.
pub const METADATA_PREFIX: &str = "meta-";

/// W3C trace context, top level (not part of the envelope): the relay writes it for events
/// whose metadata carries a trace context, naming its `relay publish` span (the event's own
/// context stays in `meta-traceparent`); the command bus writes it on commands and replies.
/// Consumers and the command processor continue the trace from it.
pub const TRACEPARENT: &str = cqrs_core::telemetry::trace_context::TRACEPARENT;
/// W3C vendor trace state, beside [`TRACEPARENT`] when there is one.
pub const TRACESTATE: &str = cqrs_core::telemetry::trace_context::TRACESTATE;

/// Dead letters: why the message was rejected.
pub const DLQ_ERROR: &str = "dlq-error";
/// Dead letters: `decode` or `handler`, the stage that rejected the message.
pub const DLQ_STAGE: &str = "dlq-stage";
/// Dead letters: the topic the message was consumed from.
pub const DLQ_ORIGINAL_TOPIC: &str = "dlq-original-topic";
/// Dead letters: its partition (decimal).
pub const DLQ_ORIGINAL_PARTITION: &str = "dlq-original-partition";
/// Dead letters: its offset (decimal).
pub const DLQ_ORIGINAL_OFFSET: &str = "dlq-original-offset";
/// Bounded copies (dead letters the dead-letter topic refused whole, events parked by the
/// relay): `true`, the value holds only the first bytes of the original.
pub const DLQ_TRUNCATED: &str = "dlq-truncated";
/// Bounded copies: the length of the original value in bytes (decimal).
pub const DLQ_ORIGINAL_VALUE_BYTES: &str = "dlq-original-value-bytes";
/// Bounded copies: how many original headers did not fit and were dropped (decimal).
pub const DLQ_DROPPED_HEADERS: &str = "dlq-dropped-headers";
/// Bounded copies: why the broker refused the whole message.
pub const DLQ_PUBLISH_ERROR: &str = "dlq-publish-error";

/// The envelope of `event` as Kafka headers.
pub fn encode(event: &RecordedEvent) -> OwnedHeaders {
    let metadata = &event.metadata;
    let mut headers = OwnedHeaders::new_with_capacity(9 + metadata.headers.len());
    let mut add = |key: &str, value: &str| {
        headers = std::mem::take(&mut headers).insert(Header {
            key,
            value: Some(value),
        });
    };
    add(EVENT_ID, &event.event_id.to_string());
    add(EVENT_TYPE, &event.event_type);
    add(EVENT_VERSION, &event.event_version.to_string());
    add(STREAM_ID, &event.stream_id);
    add(STREAM_VERSION, &event.stream_version.to_string());
    add(GLOBAL_POSITION, &event.position.to_string());
    add(
        RECORDED_AT,
        &event
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    );
    if let Some(id) = metadata.correlation_id {
        add(CORRELATION_ID, &id.to_string());
    }
    if let Some(id) = metadata.causation_id {
        add(CAUSATION_ID, &id.to_string());
    }
    for (key, value) in &metadata.headers {
        add(&format!("{METADATA_PREFIX}{key}"), value);
    }
    headers
}
