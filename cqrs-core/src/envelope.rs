//! The envelope around a stored event: identity, position, time and causality.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, JsonPayload};
use crate::upcast::{DecodeError, Upcasters};

/// Causality and free-form headers stored with every event of an append.
///
/// The command pipeline fills it from the [`CommandContext`](crate::CommandContext), so
/// correlation and causation ids flow from a command to the events it emits without the
/// domain code seeing them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Id shared by every message of one business transaction.
    pub correlation_id: Option<Uuid>,
    /// Id of the message (command or event) that caused these events.
    pub causation_id: Option<Uuid>,
    /// Free-form string headers (user id, tenant, trace parent, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Metadata {
    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }
}

/// A stored event with its envelope.
///
/// `position` is the event's place in the store's global log: strictly increasing in the
/// order a gap-safe reader sees events, not necessarily dense. `stream_version` counts the
/// events of its stream from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Unique event id.
    pub event_id: Uuid,
    /// The stream (aggregate instance) the event belongs to.
    pub stream_id: Arc<str>,
    /// 1-based version of the event within its stream.
    pub stream_version: u64,
    /// Position in the global log (1-based).
    pub position: u64,
    /// Commit time as recorded by the store, UTC.
    pub recorded_at: DateTime<Utc>,
    /// Stable event type name.
    pub event_type: Arc<str>,
    /// Schema version of the stored payload.
    pub event_version: u32,
    /// The payload as stored (before upcasting).
    pub payload: JsonPayload,
    /// Correlation, causation and headers, shared by all events of one append.
    pub metadata: Arc<Metadata>,
}

impl RecordedEvent {
    /// Decodes the payload into the domain event, upcasting old versions first.
    ///
    /// Errors name the stream, the event's version within it and its type.
    pub fn decode<E: Event>(&self, upcasters: &Upcasters) -> Result<E, DecodeError> {
        StreamEventRef::from(self).decode(upcasters)
    }

    /// The stream's category: the part of the stream id before the first `-`
    /// (the aggregate type for streams created by a [`Repository`](crate::Repository)).
    pub fn category(&self) -> &str {
        stream_category(&self.stream_id)
    }

    /// The aggregate id: the part of the stream id after the first `-` (the inverse of
    /// [`stream_id`](crate::stream_id)), or `""` for a stream id without one.
    ///
    /// ```
    /// # use cqrs_core::*;
    /// # let mut e = RecordedEvent { event_id: uuid::Uuid::nil(), stream_id: "Order-o-42".into(),
    /// #   stream_version: 1, position: 1, recorded_at: chrono::Utc::now(), event_type: "X".into(),
    /// #   event_version: 1, payload: JsonPayload::parse("{}").unwrap(), metadata: Default::default() };
    /// assert_eq!((e.category(), e.aggregate_id()), ("Order", "o-42"));
    /// ```
    pub fn aggregate_id(&self) -> &str {
        self.stream_id.split_once('-').map_or("", |(_, id)| id)
    }
}

/// A stream's event with only what rebuilding an aggregate needs, borrowed from the
/// store's read buffer while [`EventStore::load_stream`](crate::EventStore::load_stream)
/// feeds it to its visitor: no metadata, event id, global position or commit time, and
/// nothing copied.
///
/// ```
/// use cqrs_core::{Event, StreamEventRef, Upcasters};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// # enum Counted { Added { by: u32 } }
/// # impl Event for Counted {
/// #     const EVENT_TYPES: &'static [&'static str] = &["Added"];
/// #     fn event_type(&self) -> &'static str { "Added" }
/// # }
/// let event = StreamEventRef {
///     stream_id: "Counter-1",
///     stream_version: 3,
///     event_type: "Added",
///     event_version: 1,
///     payload: r#"{"Added":{"by":2}}"#,
/// };
/// let decoded: Counted = event.decode(&Upcasters::new()).unwrap();
/// assert_eq!(decoded, Counted::Added { by: 2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEventRef<'a> {
    /// The stream.
    pub stream_id: &'a str,
    /// 1-based version within the stream.
    pub stream_version: u64,
    /// Stable event type name.
    pub event_type: &'a str,
    /// Schema version of the stored payload.
    pub event_version: u32,
    /// The payload's JSON text as stored (before upcasting).
    pub payload: &'a str,
}

impl StreamEventRef<'_> {
    /// Decodes the payload into the domain event, upcasting old versions first.
    pub fn decode<E: Event>(&self, upcasters: &Upcasters) -> Result<E, DecodeError> {
        upcasters.decode_parts(
            self.stream_id,
            self.stream_version,
            self.event_type,
            self.event_version,
            self.payload,
        )
    }
}

impl<'a> From<&'a RecordedEvent> for StreamEventRef<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        Self {
            stream_id: &event.stream_id,
            stream_version: event.stream_version,
            event_type: &event.event_type,
            event_version: event.event_version,
            payload: event.payload.as_str(),
        }
    }
}

/// The category of a stream id: the part before the first `-`, or the whole id.
///
/// ```
/// assert_eq!(cqrs_core::stream_category("Order-42"), "Order");
/// assert_eq!(cqrs_core::stream_category("standalone"), "standalone");
/// ```
pub fn stream_category(stream_id: &str) -> &str {
    stream_id.split_once('-').map_or(stream_id, |(c, _)| c)
}
