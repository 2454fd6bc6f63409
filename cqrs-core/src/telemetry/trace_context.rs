//! The W3C trace context (`traceparent`, `tracestate`) across process boundaries.
//!
//! Written and read through OpenTelemetry's global text-map propagator, which a service
//! sets once at start (`opentelemetry::global::set_text_map_propagator(
//! TraceContextPropagator::new())`), beside a `tracing-opentelemetry` layer. Without a
//! propagator or without that layer, [`inject_current`] writes nothing and
//! [`continue_from`] leaves the span alone, at the cost of a lookup.
//!
//! Carriers: event metadata headers ([`HeaderCarrier`] over a `BTreeMap`, as in
//! [`Metadata::headers`](crate::Metadata::headers)), Kafka headers and HTTP headers
//! (each adapter wraps its own in [`Injector`] / [`Extractor`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use cqrs_core::telemetry::trace_context::{continue_from, inject_current, HeaderCarrier};
//!
//! let mut headers = BTreeMap::new();
//! // Without an OpenTelemetry layer and propagator there is no context to write.
//! inject_current(&mut HeaderCarrier(&mut headers));
//! assert!(headers.is_empty());
//! let span = tracing::info_span!("consume");
//! assert!(!continue_from(&span, &HeaderCarrier(&mut headers)));
//! ```

use std::collections::BTreeMap;

pub use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header naming the trace and the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header with vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// A `BTreeMap<String, String>` (such as [`Metadata::headers`](crate::Metadata::headers))
/// as a carrier of trace context.
#[derive(Debug)]
pub struct HeaderCarrier<'a>(pub &'a mut BTreeMap<String, String>);

impl Injector for HeaderCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// A read-only `BTreeMap<String, String>` as an [`Extractor`].
#[derive(Debug, Clone, Copy)]
pub struct HeaderSource<'a>(pub &'a BTreeMap<String, String>);

impl Extractor for HeaderSource<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Writes the trace context of the current span into `carrier`; nothing when the span
/// is not recorded by an OpenTelemetry layer. Returns whether it wrote a context.
pub fn inject_current(carrier: &mut dyn Injector) -> bool {
    inject_span(&tracing::Span::current(), carrier)
}

/// Writes the trace context of `span` into `carrier` (see [`inject_current`]).
pub fn inject_span(span: &tracing::Span, carrier: &mut dyn Injector) -> bool {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return false;
    }
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, carrier)
    });
    true
}

/// Makes the remote span found in `carrier` the parent of `span` (which must not have
/// been entered yet), so that the trace continues across the process boundary. Returns
/// whether a valid context was found (a carrier without one leaves `span` a new root).
pub fn continue_from(span: &tracing::Span, carrier: &dyn Extractor) -> bool {
    let context =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    if !context.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(context).is_ok()
}

/// The trace id of the current span (32 hex digits), when an OpenTelemetry layer records
/// it: for logs and error answers that an operator pastes into a trace search.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
