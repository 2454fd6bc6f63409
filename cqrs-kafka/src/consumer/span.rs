//! The span each consumed message is handled in: `consume` for the consumer runners
//! (the command processor has its own, `command process`). Its parent is the remote span
//! named by the message's `traceparent` header (the relay's `relay publish`), so the trace
//! of a command goes on through every consumer of its events.
//!
//! How a handler runs inside it is described in [`batch`](super::batch#tracing).

use rdkafka::message::{BorrowedMessage, Headers, Message};
use tracing::field::Empty;
use tracing::Span;

use crate::{headers, trace_headers};

/// Makes the span a consumed message is handled in (created before it is decoded).
pub(crate) type MessageSpan = fn(&BorrowedMessage<'_>) -> Span;

/// The `consume` span of `message`: `otel.kind = consumer`, its topic, partition and offset,
/// and for an event envelope (the relay's headers) its `event_id`, `stream` and `position`;
/// continued from its `traceparent` header. Costs nothing more than a disabled span when no
/// subscriber records it.
pub(crate) fn consume_span(message: &BorrowedMessage<'_>) -> Span {
    let span = tracing::info_span!(
        "consume",
        otel.kind = "consumer",
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        event_id = Empty,
        stream = Empty,
        position = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let Some(kafka_headers) = message.headers() else {
        return span;
    };
    for header in kafka_headers.iter() {
        let Some(value) = header.value.and_then(|v| std::str::from_utf8(v).ok()) else {
            continue;
        };
        match header.key {
            headers::EVENT_ID => {
                span.record("event_id", value);
            }
            headers::STREAM_ID => {
                span.record("stream", value);
            }
            headers::GLOBAL_POSITION => {
                if let Ok(position) = value.parse::<u64>() {
                    span.record("position", position);
                }
            }
            _ => {}
        }
    }
    trace_headers::continue_from(&span, kafka_headers);
    span
}
