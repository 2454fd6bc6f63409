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
/// # Derive it
/// `#[derive(Event)]` on an enum writes every name once, from the variants:
///
/// - the stored type name is the variant's name, or `#[event(rename = "...")]`;
///   `#[event(alias = "...")]` (repeatable) keeps older stored names decoding;
/// - `#[event(version = N)]` is the variant's payload schema version (default 1);
/// - the payload is the variant's **fields only**: `Lent { member }` is stored as
///   `{"member": "m0"}` (the type name is stored beside it), a newtype variant as its inner
///   value, a unit variant as `{}`. Upcasters see exactly those fields. `#[serde(...)]`
///   attributes on the fields apply (`default`, `rename`, `skip_serializing_if`, ...).
///
/// ```
/// use cqrs_core::{Event, NewEvent, Upcasters};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// enum LoanEvent {
///     Lent { member: String },
///     #[event(rename = "BookReturned", alias = "Returned", version = 2)]
///     Returned { member: String, #[serde(default)] late: bool },
///     Lost,
/// }
///
/// assert_eq!(LoanEvent::EVENT_TYPES, ["Lent", "BookReturned", "Returned", "Lost"]);
/// let returned = LoanEvent::Returned { member: "m0".into(), late: true };
/// assert_eq!((returned.event_type(), returned.event_version()), ("BookReturned", 2));
/// let stored = NewEvent::from_event(&returned).unwrap();
/// assert_eq!(stored.payload.as_str(), r#"{"member":"m0","late":true}"#);
///
/// // A v1 payload stored under the old name still decodes (`late` defaults to false).
/// let decoded: LoanEvent = Upcasters::new()
///     .decode_parts("Loan-1", 1, "Returned", 1, r#"{"member":"m1"}"#)
///     .unwrap();
/// assert_eq!(decoded, LoanEvent::Returned { member: "m1".into(), late: false });
/// ```
///
/// # Or implement it
/// By hand, the payload is whatever serde makes of the whole value (choose an internally
/// tagged `#[serde(tag = "type")]` or adjacently tagged representation if upcasters must
/// read it; the default externally tagged one nests the fields under the variant name).
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
    /// instead of an opaque deserialization failure, and a
    /// [`Repository`](crate::Repository) refuses to append an event whose
    /// [`event_type`](Event::event_type) is not listed.
    const EVENT_TYPES: &'static [&'static str];

    /// The stable name of this event's type, stored beside the payload.
    fn event_type(&self) -> &'static str;

    /// The schema version of this event's payload. Defaults to 1.
    fn event_version(&self) -> u32 {
        1
    }

    /// Writes the stored payload. Defaults to serde's form of the whole value; the derive
    /// writes the variant's fields only.
    fn encode_payload<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }

    /// Reads a stored payload of `event_type` (already upcast to the current version).
    /// Defaults to serde's form of the whole value; the derive reads the variant's fields.
    fn decode_payload<'de, D: Deserializer<'de>>(
        event_type: &str,
        deserializer: D,
    ) -> Result<Self, D::Error> {
        let _ = event_type;
        Self::deserialize(deserializer)
    }
}

/// Serializes an event as its stored payload ([`Event::encode_payload`]).
struct StoredPayload<'a, E>(&'a E);

impl<E: Event> Serialize for StoredPayload<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.encode_payload(serializer)
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
    ///
    /// Refuses an event whose [`event_type`](Event::event_type) is missing from
    /// [`Event::EVENT_TYPES`]: stored, it could never be decoded again, and every later load
    /// of its stream would fail.
    pub fn from_event<E: Event>(event: &E) -> Result<Self, serde_json::Error> {
        let event_type = event.event_type();
        if !E::EVENT_TYPES.contains(&event_type) {
            return Err(serde::ser::Error::custom(format_args!(
                "event type `{event_type}` is not listed in {}::EVENT_TYPES, so it could not be decoded once stored",
                std::any::type_name::<E>()
            )));
        }
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            event_version: event.event_version(),
            payload: JsonPayload::from_serialize(&StoredPayload(event))?,
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
