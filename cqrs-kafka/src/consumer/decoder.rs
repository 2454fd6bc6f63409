//! Turning consumed messages back into [`RecordedEvent`]s.
//!
//! Two decoders come with the crate: [`EnvelopeDecoder`] for messages published by the
//! [`EventRelay`](crate::EventRelay) (envelope in the headers), and [`RawJsonDecoder`] for
//! plain JSON from external producers such as IoT devices. A decoding failure makes the
//! message a poison message: the runner sends it to the dead-letter topic and moves on.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use cqrs_core::{JsonPayload, Metadata, RecordedEvent};

use super::message::IncomingMessage;
use crate::headers;

/// Decodes a consumed message into a [`RecordedEvent`] (or, for `T` other than the
/// default, into another item: the command processor decodes command envelopes).
///
/// Decoding must be deterministic: a redelivered message must decode to the same event
/// (same event id), so handlers can recognise duplicates.
pub trait Decoder<T = RecordedEvent>: Send + Sync + 'static {
    /// The event carried by `message`.
    fn decode(&self, message: &IncomingMessage<'_>) -> Result<T, MessageDecodeError>;
}

/// A Kafka message is not an event: its headers or value do not make a
/// [`RecordedEvent`]. It will never decode, so it is dead-lettered.
///
/// Not to be confused with [`cqrs_core::DecodeError`], an event whose *payload* does not
/// decode into the aggregate's event type (which a typed projection reports after this
/// step succeeded).
#[derive(Debug, thiserror::Error)]
pub enum MessageDecodeError {
    /// A required header is absent.
    #[error("{at}: missing header `{header}`")]
    MissingHeader {
        /// Topic, partition and offset of the message.
        at: String,
        /// The header.
        header: &'static str,
    },
    /// A header's value cannot be parsed.
    #[error("{at}: header `{header}` is invalid: {reason}")]
    InvalidHeader {
        /// Topic, partition and offset of the message.
        at: String,
        /// The header.
        header: String,
        /// What is wrong.
        reason: String,
    },
    /// The message has no value.
    #[error("{at}: empty message value")]
    EmptyPayload {
        /// Topic, partition and offset of the message.
        at: String,
    },
    /// The value is not UTF-8 JSON.
    #[error("{at}: the value is not valid JSON: {reason}")]
    InvalidPayload {
        /// Topic, partition and offset of the message.
        at: String,
        /// The parser's message.
        reason: String,
    },
}

/// Decodes the relay's format: value = payload JSON, envelope in the [`headers`].
///
/// `position` is the store's global position, `stream_version` the version in the stream:
/// both come from the headers, so a duplicate has the same values as the original.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvelopeDecoder;

impl Decoder for EnvelopeDecoder {
    fn decode(&self, message: &IncomingMessage<'_>) -> Result<RecordedEvent, MessageDecodeError> {
        let at = || message.source().to_string();
        let required = |header: &'static str| -> Result<&str, MessageDecodeError> {
            let value = message
                .header(header)
                .ok_or_else(|| MessageDecodeError::MissingHeader { at: at(), header })?;
            std::str::from_utf8(value).map_err(|e| invalid(at(), header, e))
        };
        let mut metadata = Metadata {
            correlation_id: optional_uuid(message, headers::CORRELATION_ID)?,
            causation_id: optional_uuid(message, headers::CAUSATION_ID)?,
            headers: BTreeMap::new(),
        };
        for (key, value) in message.headers() {
            if let Some(name) = key.strip_prefix(headers::METADATA_PREFIX) {
                let value = std::str::from_utf8(value.unwrap_or_default())
                    .map_err(|e| invalid(at(), key, e))?;
                metadata.headers.insert(name.to_owned(), value.to_owned());
            }
        }
        // A stream id and a type name the store would never accept are no envelope.
        let named = |header: &'static str| -> Result<&str, MessageDecodeError> {
            let value = required(header)?;
            if value.is_empty() {
                return Err(invalid(at(), header, "empty"));
            }
            Ok(value)
        };
        let recorded_at = required(headers::RECORDED_AT)?;
        Ok(RecordedEvent {
            event_id: parse(at, headers::EVENT_ID, required(headers::EVENT_ID)?)?,
            stream_id: Arc::from(named(headers::STREAM_ID)?),
            stream_version: parse(
                at,
                headers::STREAM_VERSION,
                required(headers::STREAM_VERSION)?,
            )?,
            position: parse(
                at,
                headers::GLOBAL_POSITION,
                required(headers::GLOBAL_POSITION)?,
            )?,
            recorded_at: DateTime::parse_from_rfc3339(recorded_at)
                .map_err(|e| invalid(at(), headers::RECORDED_AT, e))?
                .with_timezone(&Utc),
            event_type: Arc::from(named(headers::EVENT_TYPE)?),
            event_version: parse(
                at,
                headers::EVENT_VERSION,
                required(headers::EVENT_VERSION)?,
            )?,
            payload: json_payload(message)?,
            metadata: Arc::new(metadata),
        })
    }
}

/// Decodes plain JSON values from producers that know nothing of the envelope.
///
/// - `event_id`: the `event-id` header if it holds a UUID, otherwise a UUIDv5 derived
///   from topic, partition and offset, so a redelivered message gets the same id.
/// - `stream_id`: the message key (UTF-8), or the topic when there is no key.
/// - `event_type`: the configured type, or the topic name.
/// - `position` and `stream_version`: the offset + 1. They order messages **within one
///   partition only**; deduplicate raw messages by `event_id`.
/// - `recorded_at`: the message timestamp, or the time of decoding if it has none.
///
/// ```
/// let decoder = cqrs_kafka::RawJsonDecoder::default().with_event_type("SensorReading");
/// # let _ = decoder;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RawJsonDecoder {
    event_type: Option<Arc<str>>,
}

impl RawJsonDecoder {
    /// Uses `event_type` for every message instead of the topic name.
    pub fn with_event_type(mut self, event_type: impl Into<Arc<str>>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }
}

/// Namespace of the ids [`RawJsonDecoder`] derives from message coordinates.
const RAW_MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_3c52_8a0e_4b7a_9c3e_2d51_7a40_c9b1);

impl Decoder for RawJsonDecoder {
    fn decode(&self, message: &IncomingMessage<'_>) -> Result<RecordedEvent, MessageDecodeError> {
        let source = message.source();
        let event_id = match optional_uuid(message, headers::EVENT_ID) {
            Ok(Some(id)) => id,
            _ => Uuid::new_v5(&RAW_MESSAGE_NAMESPACE, source.to_string().as_bytes()),
        };
        let stream_id: Arc<str> = match message.key().map(std::str::from_utf8) {
            Some(Ok(key)) if !key.is_empty() => Arc::from(key),
            _ => Arc::from(source.topic),
        };
        let sequence = u64::try_from(source.offset).unwrap_or(0) + 1;
        let recorded_at = message
            .timestamp_millis()
            .and_then(DateTime::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        Ok(RecordedEvent {
            event_id,
            stream_id,
            stream_version: sequence,
            position: sequence,
            recorded_at,
            event_type: self
                .event_type
                .clone()
                .unwrap_or_else(|| Arc::from(source.topic)),
            event_version: 1,
            payload: json_payload(message)?,
            metadata: Arc::new(Metadata::default()),
        })
    }
}

fn json_payload(message: &IncomingMessage<'_>) -> Result<JsonPayload, MessageDecodeError> {
    let at = || message.source().to_string();
    let bytes = message.payload().filter(|p| !p.is_empty());
    let bytes = bytes.ok_or_else(|| MessageDecodeError::EmptyPayload { at: at() })?;
    let text = std::str::from_utf8(bytes).map_err(|e| MessageDecodeError::InvalidPayload {
        at: at(),
        reason: e.to_string(),
    })?;
    JsonPayload::parse(text).map_err(|e| MessageDecodeError::InvalidPayload {
        at: at(),
        reason: e.to_string(),
    })
}

fn optional_uuid(
    message: &IncomingMessage<'_>,
    header: &'static str,
) -> Result<Option<Uuid>, MessageDecodeError> {
    let Some(value) = message.header(header) else {
        return Ok(None);
    };
    let at = || message.source().to_string();
    let text = std::str::from_utf8(value).map_err(|e| invalid(at(), header, e))?;
    Uuid::parse_str(text)
        .map(Some)
        .map_err(|e| invalid(at(), header, e))
}

fn parse<T: FromStr>(
    at: impl Fn() -> String,
    header: &'static str,
    text: &str,
) -> Result<T, MessageDecodeError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| invalid(at(), header, e))
}

fn invalid(at: String, header: &str, reason: impl std::fmt::Display) -> MessageDecodeError {
    MessageDecodeError::InvalidHeader {
        at,
        header: header.to_owned(),
        reason: reason.to_string(),
    }
}
