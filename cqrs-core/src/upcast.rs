//! Upcasting: migrating stored event payloads to the current shape on read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::event::Event;

type UpcastFn = Arc<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// A registry of upcasters keyed by (event type, stored version).
///
/// An upcaster registered for `(type, v)` turns a version-`v` payload into a version-`v+1`
/// payload; decoding applies the chain `v -> v+1 -> ...` until no upcaster is registered,
/// then deserializes. Payloads without upcasters are deserialized straight from their text.
///
/// ```
/// use cqrs_core::Upcasters;
/// use serde_json::json;
///
/// let upcasters = Upcasters::new()
///     // v1 stored a single `name`; v2 splits it.
///     .register("Registered", 1, |mut v| {
///         let name = v["name"].as_str().ok_or("missing name")?.to_owned();
///         let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
///         v["first"] = json!(first);
///         v["last"] = json!(last);
///         Ok(v)
///     })
///     // v2 -> v3 adds a default.
///     .register("Registered", 2, |mut v| {
///         v["country"] = json!("unknown");
///         Ok(v)
///     });
/// let (value, version) = upcasters.upcast("Registered", 1, json!({"name": "Ada Lovelace"})).unwrap();
/// assert_eq!(version, 3);
/// assert_eq!(value["last"], "Lovelace");
/// assert_eq!(value["country"], "unknown");
/// ```
#[derive(Clone, Default)]
pub struct Upcasters {
    by_type: HashMap<String, BTreeMap<u32, UpcastFn>>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<_> = self
            .by_type
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |v| format!("{t} v{v}")))
            .collect();
        f.debug_struct("Upcasters")
            .field("registered", &keys)
            .finish()
    }
}

impl Upcasters {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `upcast` to turn `event_type` payloads of `from_version` into
    /// `from_version + 1`. An `Err(reason)` becomes [`DecodeError::Upcast`].
    pub fn register<F>(
        mut self,
        event_type: impl Into<String>,
        from_version: u32,
        upcast: F,
    ) -> Self
    where
        F: Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.by_type
            .entry(event_type.into())
            .or_default()
            .insert(from_version, Arc::new(upcast));
        self
    }

    /// True when a payload of `event_type` at `version` needs upcasting.
    pub fn needs_upcast(&self, event_type: &str, version: u32) -> bool {
        // Checked first: most aggregates register none, and then decoding a stream does
        // not hash every event's type.
        !self.by_type.is_empty()
            && self
                .by_type
                .get(event_type)
                .is_some_and(|m| m.contains_key(&version))
    }

    /// Applies the chain from `version`; returns the payload and its final version.
    /// The error is `(failing version, reason)`.
    pub fn upcast(
        &self,
        event_type: &str,
        mut version: u32,
        mut value: Value,
    ) -> Result<(Value, u32), (u32, String)> {
        if let Some(chain) = self.by_type.get(event_type) {
            while let Some(step) = chain.get(&version) {
                value = step(value).map_err(|reason| (version, reason))?;
                version += 1;
            }
        }
        Ok((value, version))
    }

    /// Decodes the JSON text `payload` of `event_type` at `event_version` into `E`,
    /// upcasting first when needed; errors name `stream` and `stream_version`.
    ///
    /// A payload that needs no upcasting is deserialized straight from its text.
    pub fn decode_parts<E: Event>(
        &self,
        stream: &str,
        stream_version: u64,
        event_type: &str,
        event_version: u32,
        payload: &str,
    ) -> Result<E, DecodeError> {
        let logged = |error: DecodeError| {
            tracing::warn!(%error, "cannot decode event");
            error
        };
        if !E::EVENT_TYPES.contains(&event_type) {
            return Err(logged(DecodeError::UnknownEventType {
                stream: stream.to_owned(),
                stream_version,
                event_type: event_type.to_owned(),
            }));
        }
        let deserialize_error = |version: u32, source: serde_json::Error| {
            logged(DecodeError::Deserialize {
                stream: stream.to_owned(),
                stream_version,
                event_type: event_type.to_owned(),
                version,
                source,
            })
        };
        if !self.needs_upcast(event_type, event_version) {
            return decode_text::<E>(event_type, payload)
                .map_err(|e| deserialize_error(event_version, e));
        }
        let value: Value =
            serde_json::from_str(payload).map_err(|e| deserialize_error(event_version, e))?;
        let (value, version) =
            self.upcast(event_type, event_version, value)
                .map_err(|(from_version, reason)| {
                    logged(DecodeError::Upcast {
                        stream: stream.to_owned(),
                        stream_version,
                        event_type: event_type.to_owned(),
                        from_version,
                        reason,
                    })
                })?;
        E::decode_payload(event_type, value).map_err(|e| deserialize_error(version, e))
    }
}

/// Decodes the JSON text of a payload that needs no upcasting, straight from the text.
fn decode_text<E: Event>(event_type: &str, payload: &str) -> Result<E, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    let event = E::decode_payload(event_type, &mut deserializer)?;
    deserializer.end()?;
    Ok(event)
}

/// A stored event could not be turned into the domain type.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The stored type name is not one of [`Event::EVENT_TYPES`].
    #[error("unknown event type `{event_type}` at version {stream_version} of stream `{stream}`")]
    UnknownEventType {
        /// Stream of the event.
        stream: String,
        /// Version of the event within its stream.
        stream_version: u64,
        /// The unknown type name.
        event_type: String,
    },
    /// An upcaster refused the payload.
    #[error("upcasting `{event_type}` from v{from_version} failed at version {stream_version} of stream `{stream}`: {reason}")]
    Upcast {
        /// Stream of the event.
        stream: String,
        /// Version of the event within its stream.
        stream_version: u64,
        /// Event type.
        event_type: String,
        /// The version the failing upcaster started from.
        from_version: u32,
        /// The upcaster's reason.
        reason: String,
    },
    /// The (upcast) payload does not deserialize into the domain type.
    #[error("cannot deserialize `{event_type}` v{version} at version {stream_version} of stream `{stream}`: {source}")]
    Deserialize {
        /// Stream of the event.
        stream: String,
        /// Version of the event within its stream.
        stream_version: u64,
        /// Event type.
        event_type: String,
        /// Payload version that failed to deserialize.
        version: u32,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}
