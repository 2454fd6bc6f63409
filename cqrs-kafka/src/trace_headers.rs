//! The W3C trace context in Kafka headers: the top-level
//! [`traceparent`](headers::TRACEPARENT) and [`tracestate`](headers::TRACESTATE) headers
//! that the relay and the command bus write and that consumers and the command processor
//! continue from.
//!
//! Both directions go through [`cqrs_core::telemetry::trace_context`] (OpenTelemetry's
//! global propagator and the `tracing-opentelemetry` layer); without them nothing is
//! written, and a message's context is not looked up.

use rdkafka::message::{Header, Headers, OwnedHeaders};
use tracing::Span;

use cqrs_core::telemetry::trace_context::{self, Extractor, Injector};

use crate::headers;

/// Kafka headers (consumed [`BorrowedHeaders`](rdkafka::message::BorrowedHeaders) or
/// [`OwnedHeaders`]) read as a trace-context carrier: the first header of a name, when its
/// value is UTF-8.
pub(crate) struct HeaderSource<'a, H>(pub(crate) &'a H);

impl<H: Headers> Extractor for HeaderSource<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        let header = self.0.iter().find(|header| header.key == key)?;
        std::str::from_utf8(header.value?).ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|header| header.key).collect()
    }
}

/// [`OwnedHeaders`] being built, written to as a trace-context carrier.
pub(crate) struct HeaderSink<'a>(pub(crate) &'a mut OwnedHeaders);

impl Injector for HeaderSink<'_> {
    fn set(&mut self, key: &str, value: String) {
        *self.0 = std::mem::take(self.0).insert(Header {
            key,
            value: Some(value.as_str()),
        });
    }
}

/// Makes the remote span named by `headers`' `traceparent` the parent of `span` (not
/// entered yet). Returns whether it did; a message without that header costs one scan of
/// its header names.
pub(crate) fn continue_from<H: Headers>(span: &Span, headers: &H) -> bool {
    let source = HeaderSource(headers);
    source.get(headers::TRACEPARENT).is_some() && trace_context::continue_from(span, &source)
}

/// Adds the trace context of `span` to `out` (`traceparent`, and `tracestate` when there is
/// one). Returns whether it wrote one: not when `span` is not recorded by an OpenTelemetry
/// layer.
pub(crate) fn inject(span: &Span, out: &mut OwnedHeaders) -> bool {
    trace_context::inject_span(span, &mut HeaderSink(out))
}

/// True for the two trace-context header names.
pub(crate) fn is_trace_header(name: &str) -> bool {
    name == headers::TRACEPARENT || name == headers::TRACESTATE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_header_of_a_name_is_read_and_written_headers_are_appended() {
        let mut out = OwnedHeaders::new().insert(Header {
            key: "event-id",
            value: Some("e1"),
        });
        HeaderSink(&mut out).set(headers::TRACEPARENT, "00-aa-bb-01".to_owned());
        HeaderSink(&mut out).set(headers::TRACEPARENT, "00-cc-dd-01".to_owned());
        let source = HeaderSource(&out);
        assert_eq!(source.get(headers::TRACEPARENT), Some("00-aa-bb-01"));
        assert_eq!(source.get(headers::TRACESTATE), None);
        assert_eq!(
            source.keys(),
            ["event-id", headers::TRACEPARENT, headers::TRACEPARENT]
        );
        assert!(is_trace_header("tracestate") && !is_trace_header("meta-traceparent"));
    }

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_continued_or_written() {
        let span = tracing::info_span!("consume");
        let mut out = OwnedHeaders::new().insert(Header {
            key: headers::TRACEPARENT,
            value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        });
        assert!(!continue_from(&span, &out));
        assert!(!inject(&span, &mut out));
        assert_eq!(out.count(), 1);
    }
}
