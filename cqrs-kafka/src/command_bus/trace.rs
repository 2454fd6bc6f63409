//! The command bus's spans, one trace from the sender to the command's events:
//!
//! - `command send` (`otel.kind = producer`): [`KafkaCommandSender`](super::KafkaCommandSender)
//!   publishes (and, for `send`, awaits the reply) inside it; the command message carries
//!   its context as top-level `traceparent` / `tracestate` headers.
//! - `command process` (`otel.kind = consumer`): the [`CommandProcessor`](super::CommandProcessor)
//!   runs and answers each command inside it, continued from those headers, so the
//!   pipeline's `command` span (and its `load` and `append`) are its children; the reply
//!   carries its context too.
//!
//! Both carry the ids users search by: command id, command type, aggregate id,
//! correlation id.

use cqrs_core::{CommandEnvelope, CommandReply, SendError};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use tracing::field::Empty;
use tracing::Span;

use super::headers;
use crate::trace_headers;

/// The `command send` span of `envelope` published to `topic`, a child of the current span.
pub(super) fn send_span(envelope: &CommandEnvelope, topic: &str) -> Span {
    tracing::info_span!(
        "command send",
        otel.kind = "producer",
        command_id = %envelope.command_id,
        command_type = %envelope.command_type,
        aggregate_type = %envelope.aggregate_type,
        aggregate_id = %envelope.aggregate_id,
        correlation_id = %envelope.correlation_id,
        topic,
        outcome = Empty,
    )
}

/// Records how a send ended on its span: the reply's outcome, or the error.
pub(super) fn record_sent(span: &Span, sent: &Result<CommandReply, SendError>) {
    match sent {
        Ok(reply) => span.record("outcome", reply.outcome.name()),
        Err(error) => span.record("outcome", tracing::field::display(error)),
    };
}

/// The `command process` span of a consumed command message, from its headers and key
/// (the aggregate id), continued from its `traceparent` header.
pub(crate) fn process_span(message: &BorrowedMessage<'_>) -> Span {
    let span = tracing::info_span!(
        "command process",
        otel.kind = "consumer",
        command_id = Empty,
        command_type = Empty,
        aggregate_type = Empty,
        aggregate_id = Empty,
        correlation_id = Empty,
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok()) {
        span.record("aggregate_id", key);
    }
    let Some(kafka_headers) = message.headers() else {
        return span;
    };
    for header in kafka_headers.iter() {
        let field = match header.key {
            headers::COMMAND_ID => "command_id",
            headers::COMMAND_TYPE => "command_type",
            headers::AGGREGATE_TYPE => "aggregate_type",
            headers::CORRELATION_ID => "correlation_id",
            _ => continue,
        };
        if let Some(value) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
            span.record(field, value);
        }
    }
    trace_headers::continue_from(&span, kafka_headers);
    span
}
