//! The trace of a published event: an event whose metadata carries a trace context (the
//! command pipeline writes its `append` span's there) is handed to the producer inside a
//! `relay publish` span continuing that trace, and its Kafka record gets that span's
//! context as top-level `traceparent` / `tracestate` headers, which consumers continue.
//!
//! Events without a trace context get neither span nor headers: the relay's hot path
//! then pays one map lookup per event.

use rdkafka::message::{Header, OwnedHeaders};
use tracing::Span;

use cqrs_core::telemetry::trace_context::{self, HeaderSource};
use cqrs_core::RecordedEvent;

use crate::{headers, trace_headers};

/// The `relay publish` span of `event` published to `topic` (`otel.kind = producer`, with
/// its event id, stream, position and topic), child of the trace in its metadata; `None`
/// when its metadata carries no trace context.
pub(super) fn publish_span(event: &RecordedEvent, topic: &str) -> Option<Span> {
    let metadata = &event.metadata.headers;
    if !metadata.contains_key(headers::TRACEPARENT) {
        return None;
    }
    let span = tracing::info_span!(
        "relay publish",
        otel.kind = "producer",
        event_id = %event.event_id,
        stream = %event.stream_id,
        position = event.position,
        topic,
    );
    trace_context::continue_from(&span, &HeaderSource(metadata));
    Some(span)
}

/// The Kafka headers of `event`: its envelope ([`headers::encode`]) and, with its
/// [`publish_span`], the trace context to continue from. A relay that does not record
/// traces itself (no OpenTelemetry layer) passes the event's own context on, so that the
/// consumers' spans still join the trace of the command.
pub(super) fn record_headers(event: &RecordedEvent, span: Option<&Span>) -> OwnedHeaders {
    let mut out = headers::encode(event);
    let Some(span) = span else {
        return out;
    };
    if !trace_headers::inject(span, &mut out) {
        for key in [headers::TRACEPARENT, headers::TRACESTATE] {
            if let Some(value) = event.metadata.headers.get(key) {
                out = out.insert(Header {
                    key,
                    value: Some(value),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cqrs_core::{JsonPayload, Metadata};
    use rdkafka::message::Headers;

    use super::*;

    fn event(metadata: Metadata) -> RecordedEvent {
        RecordedEvent {
            event_id: uuid::Uuid::now_v7(),
            stream_id: "Order-1".into(),
            stream_version: 1,
            position: 7,
            recorded_at: chrono::Utc::now(),
            event_type: "Placed".into(),
            event_version: 1,
            payload: JsonPayload::parse("{}").unwrap(),
            metadata: Arc::new(metadata),
        }
    }

    fn header<'h>(headers: &'h OwnedHeaders, name: &str) -> Vec<&'h [u8]> {
        headers
            .iter()
            .filter(|h| h.key == name)
            .filter_map(|h| h.value)
            .collect()
    }

    #[test]
    fn an_event_without_trace_context_gets_no_span_and_no_trace_headers() {
        let event = event(Metadata::default().with_header("tenant", "acme"));
        let span = publish_span(&event, "Order");
        assert!(span.is_none());
        let out = record_headers(&event, span.as_ref());
        assert!(header(&out, headers::TRACEPARENT).is_empty());
        assert_eq!(header(&out, "meta-tenant"), [&b"acme"[..]]);
    }

    #[test]
    fn without_an_opentelemetry_layer_the_events_own_context_is_passed_on() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let event = event(
            Metadata::default()
                .with_header(headers::TRACEPARENT, parent)
                .with_header(headers::TRACESTATE, "k=v"),
        );
        let span = publish_span(&event, "Order");
        assert!(span.is_some());
        let out = record_headers(&event, span.as_ref());
        assert_eq!(header(&out, headers::TRACEPARENT), [parent.as_bytes()]);
        assert_eq!(header(&out, headers::TRACESTATE), [&b"k=v"[..]]);
        assert_eq!(header(&out, "meta-traceparent"), [parent.as_bytes()]);
    }
}
