//! The span a projection runner applies an event in, when the event carries a trace
//! context: a `project` span continued from the event's metadata, so that what the
//! projection does (a saga's commands, say) joins the trace of the command that wrote it.
//!
//! Only for live events: a runner catching up (a full batch) or replaying the log (an
//! in-memory projection at start) adds no spans to old traces, and only for the events the
//! projection applies ([`Projection::applies_to`](crate::Projection::applies_to)).

use crate::envelope::RecordedEvent;
use crate::telemetry::trace_context::{continue_from, HeaderSource, TRACEPARENT};

/// A `project` span for `event`, continued from its `traceparent`; `None` (no span, no
/// cost) for an event written without trace context. The caller decides whether the event
/// is live and the projection's (see the module docs).
pub(super) fn event_span(projection: &str, event: &RecordedEvent) -> Option<tracing::Span> {
    if !event.metadata.headers.contains_key(TRACEPARENT) {
        return None;
    }
    let span = tracing::info_span!(
        "project",
        projection,
        event_id = %event.event_id,
        stream = %event.stream_id,
        event_type = %event.event_type,
        position = event.position as i64,
    );
    continue_from(&span, &HeaderSource(&event.metadata.headers));
    Some(span)
}
