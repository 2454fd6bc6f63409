//! One document per event: the envelope and its payload.
//!
//! ```text
//! {
//!   _id:            Int64     global position (1-based, dense, commit order)
//!   stream_id:      String
//!   stream_version: Int64     1-based version within the stream
//!   event_id:       Binary(4) UUID
//!   event_type:     String
//!   event_version:  Int64
//!   payload:        Document  the JSON payload; a non-object payload is wrapped as {value: ...}
//!   payload_wrapped: true     present only when the payload was wrapped
//!   metadata:       { correlation_id?: Binary(4), causation_id?: Binary(4), headers?: {k: v} }
//!   recorded_at:    DateTime  commit time, millisecond precision
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use bson::{doc, Bson, DateTime as BsonDateTime, Document};
use chrono::{DateTime, Utc};
use cqrs_core::{Metadata, NewEvent, RecordedEvent};

use super::{
    decode_payload, encode_payload, get_optional_uuid, get_str, get_u64, get_uuid, uuid_to_bson,
    PayloadError,
};

/// Field names of an event document.
pub mod fields {
    /// Global position (the document's `_id`).
    pub const POSITION: &str = "_id";
    /// Stream id.
    pub const STREAM_ID: &str = "stream_id";
    /// Version within the stream.
    pub const STREAM_VERSION: &str = "stream_version";
    /// Event id (UUID, binary subtype 4).
    pub const EVENT_ID: &str = "event_id";
    /// Event type name.
    pub const EVENT_TYPE: &str = "event_type";
    /// Payload schema version.
    pub const EVENT_VERSION: &str = "event_version";
    /// Payload document.
    pub const PAYLOAD: &str = "payload";
    /// Marks a non-object payload stored as `{value: ...}`.
    pub const PAYLOAD_WRAPPED: &str = "payload_wrapped";
    /// Metadata sub-document.
    pub const METADATA: &str = "metadata";
    /// Commit time.
    pub const RECORDED_AT: &str = "recorded_at";
}

/// An event document ready to insert, with the envelope the store returns for it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDocument {
    /// The document to insert.
    pub document: Document,
    /// The envelope as the store reports it (and reads it back).
    pub recorded: RecordedEvent,
}

/// Builds the document of `event` at `position`/`version`.
///
/// `recorded_at` must already be truncated to milliseconds (BSON's precision), so the
/// envelope returned by `append` equals the one read back. Likewise the envelope's payload
/// is the stored payload's JSON text (compact, same keys in the same order, same values).
pub fn encode_event(
    event: NewEvent,
    stream_id: &Arc<str>,
    version: u64,
    position: u64,
    recorded_at: DateTime<Utc>,
    metadata: &Arc<Metadata>,
    metadata_doc: &Document,
) -> Result<EventDocument, PayloadError> {
    let (payload, wrapped) = encode_payload(&event.payload)?;
    // The envelope carries the payload as it will read back (compact JSON of the stored
    // document), so `append` returns exactly what `read_stream` returns later.
    let stored_payload = decode_payload(&payload, wrapped).map_err(PayloadError::Json)?;
    // Positions and versions never exceed i64::MAX: the counter is an Int64.
    let mut document = doc! {
        fields::POSITION: position as i64,
        fields::STREAM_ID: stream_id.as_ref(),
        fields::STREAM_VERSION: version as i64,
        fields::EVENT_ID: uuid_to_bson(event.event_id),
        fields::EVENT_TYPE: event.event_type.as_str(),
        fields::EVENT_VERSION: i64::from(event.event_version),
        fields::PAYLOAD: payload,
    };
    if wrapped {
        document.insert(fields::PAYLOAD_WRAPPED, true);
    }
    document.insert(fields::METADATA, metadata_doc.clone());
    document.insert(
        fields::RECORDED_AT,
        BsonDateTime::from_millis(recorded_at.timestamp_millis()),
    );
    let recorded = RecordedEvent {
        event_id: event.event_id,
        stream_id: stream_id.clone(),
        stream_version: version,
        position,
        recorded_at,
        event_type: event.event_type.into(),
        event_version: event.event_version,
        payload: stored_payload,
        metadata: metadata.clone(),
    };
    Ok(EventDocument { document, recorded })
}

/// The metadata sub-document (absent ids and empty headers are left out).
pub fn encode_metadata(metadata: &Metadata) -> Result<Document, PayloadError> {
    let mut document = Document::new();
    if let Some(id) = metadata.correlation_id {
        document.insert("correlation_id", uuid_to_bson(id));
    }
    if let Some(id) = metadata.causation_id {
        document.insert("causation_id", uuid_to_bson(id));
    }
    if !metadata.headers.is_empty() {
        let mut headers = Document::new();
        for (key, value) in &metadata.headers {
            if key.contains('\0') {
                return Err(PayloadError::NulInKey);
            }
            headers.insert(key.clone(), value.clone());
        }
        document.insert("headers", headers);
    }
    Ok(document)
}

fn decode_metadata(document: &Document) -> Result<Metadata, String> {
    let mut headers = BTreeMap::new();
    match document.get("headers") {
        None | Some(Bson::Null) => {}
        Some(Bson::Document(h)) => {
            for (key, value) in h {
                match value {
                    Bson::String(s) => {
                        headers.insert(key.clone(), s.clone());
                    }
                    other => {
                        return Err(format!(
                            "metadata header `{key}` is a {:?}",
                            other.element_type()
                        ))
                    }
                }
            }
        }
        Some(other) => return Err(format!("metadata headers is a {:?}", other.element_type())),
    }
    Ok(Metadata {
        correlation_id: get_optional_uuid(document, "correlation_id")?,
        causation_id: get_optional_uuid(document, "causation_id")?,
        headers,
    })
}

/// Reads an event document back. Errors say which field of which position is wrong.
pub fn decode_event(document: &Document) -> Result<RecordedEvent, String> {
    let position = get_u64(document, fields::POSITION)?;
    decode_fields(document, position).map_err(|e| format!("event at position {position}: {e}"))
}

fn decode_fields(document: &Document, position: u64) -> Result<RecordedEvent, String> {
    let payload_doc = match document.get(fields::PAYLOAD) {
        Some(Bson::Document(d)) => d,
        Some(other) => return Err(format!("field `payload` is a {:?}", other.element_type())),
        None => return Err("field `payload` is missing".into()),
    };
    let wrapped = matches!(
        document.get(fields::PAYLOAD_WRAPPED),
        Some(Bson::Boolean(true))
    );
    let payload = decode_payload(payload_doc, wrapped)?;
    let metadata = match document.get(fields::METADATA) {
        Some(Bson::Document(m)) => decode_metadata(m)?,
        None | Some(Bson::Null) => Metadata::default(),
        Some(other) => return Err(format!("field `metadata` is a {:?}", other.element_type())),
    };
    let recorded_at = match document.get(fields::RECORDED_AT) {
        Some(Bson::DateTime(t)) => DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis())
            .ok_or_else(|| format!("field `recorded_at` is out of range ({t})"))?,
        Some(other) => {
            return Err(format!(
                "field `recorded_at` is a {:?}",
                other.element_type()
            ))
        }
        None => return Err("field `recorded_at` is missing".into()),
    };
    let event_version = get_u64(document, fields::EVENT_VERSION)?;
    Ok(RecordedEvent {
        event_id: get_uuid(document, fields::EVENT_ID)?,
        stream_id: get_str(document, fields::STREAM_ID)?.into(),
        stream_version: get_u64(document, fields::STREAM_VERSION)?,
        position,
        recorded_at,
        event_type: get_str(document, fields::EVENT_TYPE)?.into(),
        event_version: u32::try_from(event_version)
            .map_err(|_| format!("field `event_version` is too large ({event_version})"))?,
        payload,
        metadata: Arc::new(metadata),
    })
}

/// `now`, truncated to the millisecond precision BSON dates keep.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::<Utc>::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_core::JsonPayload;
    use uuid::Uuid;

    fn metadata() -> Arc<Metadata> {
        Arc::new(Metadata {
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
            headers: BTreeMap::from([("user".into(), "zoë".into()), ("a.b".into(), "$x".into())]),
        })
    }

    fn encode(payload: &str, version: u64, position: u64) -> EventDocument {
        let event = NewEvent::raw("Deposited", 3, JsonPayload::parse(payload).unwrap());
        let metadata = metadata();
        let metadata_doc = encode_metadata(&metadata).unwrap();
        encode_event(
            event,
            &Arc::from("Account-1"),
            version,
            position,
            now_millis(),
            &metadata,
            &metadata_doc,
        )
        .unwrap()
    }

    fn round_trip(encoded: &EventDocument) -> RecordedEvent {
        // Through bytes, as the server would store it.
        let mut bytes = Vec::new();
        encoded.document.to_writer(&mut bytes).unwrap();
        let stored = Document::from_reader(bytes.as_slice()).unwrap();
        decode_event(&stored).unwrap()
    }

    #[test]
    fn envelope_round_trips_through_bson_bytes() {
        let encoded = encode(
            r#"{"amount":{"cents":125,"currency":"EUR"},"tags":["a","b"]}"#,
            7,
            42,
        );
        assert_eq!(round_trip(&encoded), encoded.recorded);
    }

    #[test]
    fn positions_and_versions_beyond_i32_round_trip() {
        let position = u64::from(u32::MAX) * 4 + 17;
        let encoded = encode("{}", u64::from(i32::MAX as u32) + 5, position);
        assert_eq!(encoded.document.get_i64("_id"), Ok(position as i64));
        let back = round_trip(&encoded);
        assert_eq!(back.position, position);
        assert_eq!(back.stream_version, 2_147_483_652);
    }

    #[test]
    fn large_unicode_nested_payload_round_trips() {
        let big: String = "ünïcødé 🚀 ".repeat(50_000);
        let payload = serde_json::json!({"text": big, "n": u64::MAX, "deep": {"a": [{"b": [1, 2.5, null, true]}]}});
        let encoded = encode(&payload.to_string(), 1, 1);
        let back = round_trip(&encoded);
        assert_eq!(back.payload.to_value().unwrap(), payload);
    }

    #[test]
    fn non_object_payload_is_wrapped_and_unwrapped() {
        let encoded = encode(r#"[1,"two"]"#, 1, 1);
        assert_eq!(encoded.document.get_bool(fields::PAYLOAD_WRAPPED), Ok(true));
        assert_eq!(
            encoded
                .document
                .get_document(fields::PAYLOAD)
                .unwrap()
                .get_array("value")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(round_trip(&encoded).payload.as_str(), r#"[1,"two"]"#);
        // An object that happens to have a `value` key is not confused with a wrapper.
        let encoded = encode(r#"{"value":5}"#, 1, 1);
        assert!(encoded.document.get(fields::PAYLOAD_WRAPPED).is_none());
        assert_eq!(round_trip(&encoded).payload.as_str(), r#"{"value":5}"#);
    }

    #[test]
    fn appended_envelope_equals_the_read_back_one_for_any_json_spelling() {
        let encoded = encode("{ \"b\" : 1.0e2 ,\n \"a\": [ ] }", 1, 1);
        assert_eq!(encoded.recorded.payload.as_str(), r#"{"b":100.0,"a":[]}"#);
        assert_eq!(round_trip(&encoded), encoded.recorded);
    }

    #[test]
    fn event_id_is_stored_as_uuid_binary() {
        let encoded = encode("{}", 1, 1);
        let binary = encoded.document.get_binary_generic(fields::EVENT_ID);
        assert!(binary.is_err(), "not the generic subtype");
        match encoded.document.get(fields::EVENT_ID) {
            Some(Bson::Binary(b)) => {
                assert_eq!(b.subtype, bson::spec::BinarySubtype::Uuid);
                assert_eq!(b.bytes, encoded.recorded.event_id.as_bytes());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn recorded_at_keeps_millisecond_precision() {
        let encoded = encode("{}", 1, 1);
        assert_eq!(
            encoded.recorded.recorded_at.timestamp_subsec_nanos() % 1_000_000,
            0
        );
        assert_eq!(
            round_trip(&encoded).recorded_at,
            encoded.recorded.recorded_at
        );
    }

    #[test]
    fn corrupt_documents_name_the_position_and_field() {
        let mut encoded = encode("{}", 1, 9).document;
        encoded.insert(fields::STREAM_VERSION, "seven");
        let error = decode_event(&encoded).unwrap_err();
        assert!(
            error.contains("position 9") && error.contains("stream_version"),
            "{error}"
        );
        encoded.insert(fields::STREAM_VERSION, -1i64);
        assert!(decode_event(&encoded).unwrap_err().contains("negative"));
        encoded.remove(fields::POSITION);
        assert!(decode_event(&encoded).unwrap_err().contains("_id"));
    }

    #[test]
    fn metadata_round_trips_and_rejects_nul_header_keys() {
        let metadata = metadata();
        let doc = encode_metadata(&metadata).unwrap();
        assert!(!doc.contains_key("causation_id"));
        assert_eq!(decode_metadata(&doc).unwrap(), *metadata);
        let bad = Metadata::default().with_header("a\0b", "x");
        assert_eq!(encode_metadata(&bad), Err(PayloadError::NulInKey));
        assert_eq!(
            encode_metadata(&Metadata::default()).unwrap(),
            Document::new()
        );
    }
}
