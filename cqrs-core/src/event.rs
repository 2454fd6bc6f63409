//! Domain events and their serialized form.
//!
//! An [`Event`] is the domain type (usually an enum). Before it is stored it becomes a
//! [`NewEvent`]: a fresh UUIDv7 id, its stable type name and schema version, and its JSON
//! [`JsonPayload`].

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A domain event.
///
/// `event_type()` is the stable name stored with the event (never the Rust type path, so
/// renaming a Rust type does not orphan stored events); `event_version()` is the schema
/// version of the payload shape, used by [`Upcasters`](crate::Upcasters) to migrate old
/// events on read.
///
/// ```
/// use cqrs_core::Event;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// #[serde(tag = "type")]
/// enum AccountEvent {
///     Opened { owner: String },
///     Deposited { amount_cents: i64 },
/// }
///
/// impl Event for AccountEvent {
///     const EVENT_TYPES: &'static [&'static str] = &["Opened", "Deposited"];
///     fn event_type(&self) -> &'static str {
///         match self {
///             AccountEvent::Opened { .. } => "Opened",
///             AccountEvent::Deposited { .. } => "Deposited",
///         }
///     }
/// }
/// assert_eq!(AccountEvent::Deposited { amount_cents: 5 }.event_type(), "Deposited");
/// ```
pub trait Event: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// Every type name this Rust type can decode. A stored event whose type is not listed is
    /// reported as [`DecodeError::UnknownEventType`](crate::DecodeError::UnknownEventType)
    /// instead of an opaque deserialization failure.
    const EVENT_TYPES: &'static [&'static str];

    /// The stable name of this event's type, stored beside the payload.
    fn event_type(&self) -> &'static str;

    /// The schema version of this event's payload. Defaults to 1.
    fn event_version(&self) -> u32 {
        1
    }
}

/// A JSON document kept as validated text, cheap to clone.
///
/// Stores move payloads as text (PostgreSQL `jsonb` input, Kafka message values) so the hot
/// paths never build a `serde_json::Value` tree. Construct it from a serializable value,
/// from a [`serde_json::Value`], or by parsing text (which validates it).
///
/// ```
/// use cqrs_core::JsonPayload;
/// let p = JsonPayload::parse(r#"{"a": 1}"#).unwrap();
/// assert_eq!(p.to_value().unwrap()["a"], 1);
/// assert!(JsonPayload::parse("{not json").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonPayload(Arc<str>);

impl JsonPayload {
    /// Serializes `value` to JSON.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self(serde_json::to_string(value)?.into()))
    }

    /// Wraps an already parsed JSON value.
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self(value.to_string().into())
    }

    /// Validates `text` as JSON and wraps it.
    pub fn parse(text: impl Into<String>) -> Result<Self, serde_json::Error> {
        let text = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Self(text.into()))
    }

    /// Wraps text that a store read back from a JSON column it validated on write.
    ///
    /// Use [`JsonPayload::parse`] for anything that did not come from such a column.
    pub fn from_trusted_json(text: impl Into<Arc<str>>) -> Self {
        Self(text.into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Size of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty text (never produced by the constructors, which require JSON).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the text into a [`serde_json::Value`].
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// Deserializes the text into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl fmt::Debug for JsonPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 256;
        if self.0.len() <= SHOWN {
            write!(f, "JsonPayload({})", &self.0)
        } else {
            let cut = (0..=SHOWN)
                .rev()
                .find(|i| self.0.is_char_boundary(*i))
                .unwrap_or(0);
            write!(f, "JsonPayload({}… {} bytes)", &self.0[..cut], self.0.len())
        }
    }
}

impl fmt::Display for JsonPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.to_value().map_err(serde::ser::Error::custom)?;
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Self::from_value(&value))
    }
}

/// An event ready to be appended: id, type, schema version and payload.
///
/// The event id makes appends idempotent: re-appending a batch whose ids are already stored
/// returns the original result instead of writing duplicates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id (UUIDv7 by default, so ids sort by creation time).
    pub event_id: Uuid,
    /// Stable type name, see [`Event::event_type`].
    pub event_type: String,
    /// Payload schema version, see [`Event::event_version`].
    pub event_version: u32,
    /// The serialized event.
    pub payload: JsonPayload,
}

impl NewEvent {
    /// Serializes a domain event with a fresh UUIDv7 id.
    pub fn from_event<E: Event>(event: &E) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            event_version: event.event_version(),
            payload: JsonPayload::from_serialize(event)?,
        })
    }

    /// Builds an event from raw parts (for tools, relays and tests).
    pub fn raw(event_type: impl Into<String>, event_version: u32, payload: JsonPayload) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            event_version,
            payload,
        }
    }

    /// Replaces the generated id (e.g. to derive it deterministically from a message id).
    pub fn with_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }
}
