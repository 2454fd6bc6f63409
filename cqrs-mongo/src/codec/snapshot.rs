//! Snapshot documents: one per stream, keyed by the stream id.
//!
//! ```text
//! { _id: stream_id, version: Int64, schema_version: Int64, state: Document,
//!   state_wrapped?: true, taken_at: DateTime }
//! ```

use bson::{doc, Bson, DateTime as BsonDateTime, Document};
use chrono::{DateTime, Utc};
use cqrs_core::Snapshot;

use super::{decode_payload, encode_payload, get_str, get_u64, PayloadError};

/// The `$set` part of a snapshot upsert: every field but `_id`.
pub fn encode_snapshot(snapshot: &Snapshot) -> Result<Document, PayloadError> {
    let (state, wrapped) = encode_payload(&snapshot.state)?;
    Ok(doc! {
        "version": i64::try_from(snapshot.version).unwrap_or(i64::MAX),
        "schema_version": i64::from(snapshot.schema_version),
        "state": state,
        "state_wrapped": wrapped,
        "taken_at": BsonDateTime::from_millis(snapshot.taken_at.timestamp_millis()),
    })
}

/// Reads a snapshot document back.
pub fn decode_snapshot(document: &Document) -> Result<Snapshot, String> {
    let stream_id = get_str(document, "_id")?.to_owned();
    let fail = |e: String| format!("snapshot of stream `{stream_id}`: {e}");
    let state = match document.get("state") {
        Some(Bson::Document(d)) => d,
        _ => return Err(fail("field `state` is not a document".into())),
    };
    let wrapped = matches!(document.get("state_wrapped"), Some(Bson::Boolean(true)));
    let taken_at = match document.get("taken_at") {
        Some(Bson::DateTime(t)) => DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()),
        _ => None,
    }
    .ok_or_else(|| fail("field `taken_at` is not a date".into()))?;
    let schema_version = get_u64(document, "schema_version").map_err(fail)?;
    Ok(Snapshot {
        version: get_u64(document, "version").map_err(fail)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| fail("`schema_version` is too large".into()))?,
        state: decode_payload(state, wrapped).map_err(fail)?,
        taken_at,
        stream_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_core::JsonPayload;

    #[test]
    fn snapshot_round_trips_with_object_and_scalar_state() {
        for state in [
            r#"{"balance":18446744073709551615,"owner":"Zoë"}"#,
            "[1,2,3]",
            "7",
        ] {
            let snapshot = Snapshot {
                stream_id: "Account-1".into(),
                version: 5_000_000_000,
                schema_version: 2,
                state: JsonPayload::parse(state).unwrap(),
                taken_at: super::super::now_millis(),
            };
            let mut document = encode_snapshot(&snapshot).unwrap();
            document.insert("_id", "Account-1");
            assert_eq!(decode_snapshot(&document).unwrap(), snapshot);
        }
    }

    #[test]
    fn corrupt_snapshot_names_the_stream() {
        let error = decode_snapshot(&doc! { "_id": "S-1", "state": 1 }).unwrap_err();
        assert!(error.contains("S-1") && error.contains("state"), "{error}");
    }
}
