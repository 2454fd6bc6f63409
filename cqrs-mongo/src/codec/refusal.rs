//! Refusal documents: one per refused command, keyed by the command id
//! (`cqrs_core::store::commands`).
//!
//! ```text
//! { _id: Binary(4) UUID command id, stream_id: String, stream_version: Int64,
//!   code: String, message: String, recorded_at: DateTime (milliseconds) }
//! ```

use bson::{doc, Bson, DateTime as BsonDateTime, Document};
use chrono::{DateTime, Utc};
use cqrs_core::RecordedRefusal;

use super::{get_str, get_u64, get_uuid, u64_to_i64, uuid_to_bson};

/// The document of `refusal`; `None` when its stream version is beyond the largest
/// storable one. `recorded_at` is kept to the millisecond (BSON's precision), as
/// [`RecordedRefusal::new`] makes it.
pub fn encode_refusal(refusal: &RecordedRefusal) -> Option<Document> {
    Some(doc! {
        "_id": uuid_to_bson(refusal.command_id),
        "stream_id": &refusal.stream_id,
        "stream_version": u64_to_i64(refusal.stream_version)?,
        "code": &refusal.code,
        "message": &refusal.message,
        "recorded_at": BsonDateTime::from_millis(refusal.recorded_at.timestamp_millis()),
    })
}

/// Reads a refusal document back.
pub fn decode_refusal(document: &Document) -> Result<RecordedRefusal, String> {
    let command_id = get_uuid(document, "_id").map_err(|e| format!("refusal document: {e}"))?;
    let fail = |e: String| format!("refusal of command {command_id}: {e}");
    let recorded_at = match document.get("recorded_at") {
        Some(Bson::DateTime(t)) => DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()),
        _ => None,
    }
    .ok_or_else(|| fail("field `recorded_at` is not a date".into()))?;
    Ok(RecordedRefusal {
        command_id,
        stream_id: get_str(document, "stream_id").map_err(fail)?.to_owned(),
        stream_version: get_u64(document, "stream_version").map_err(fail)?,
        code: get_str(document, "code").map_err(fail)?.to_owned(),
        message: get_str(document, "message").map_err(fail)?.to_owned(),
        recorded_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn refusal() -> RecordedRefusal {
        RecordedRefusal::new(
            Uuid::now_v7(),
            "Tab-'o\"brien'-Zoë-✓",
            5_000_000_000,
            "limit_reached",
            "the limit of \"10 €\" is reached \\ $set {.} 🎉\nsecond line",
        )
    }

    #[test]
    fn refusal_round_trips_through_bson_bytes() {
        let refusal = refusal();
        let document = encode_refusal(&refusal).expect("storable");
        let mut bytes = Vec::new();
        document.to_writer(&mut bytes).expect("encodes");
        let read = Document::from_reader(bytes.as_slice()).expect("decodes");
        assert_eq!(decode_refusal(&read), Ok(refusal));
    }

    #[test]
    fn command_id_is_the_uuid_binary_id() {
        let refusal = refusal();
        let document = encode_refusal(&refusal).expect("storable");
        assert_eq!(document.get("_id"), Some(&uuid_to_bson(refusal.command_id)));
        assert_eq!(document.get_i64("stream_version"), Ok(5_000_000_000));
    }

    #[test]
    fn recorded_at_is_kept_to_the_millisecond() {
        let mut refusal = refusal();
        let millis = refusal.recorded_at;
        refusal.recorded_at = millis + chrono::Duration::microseconds(999);
        let document = encode_refusal(&refusal).expect("storable");
        assert_eq!(
            decode_refusal(&document).expect("decodes").recorded_at,
            millis
        );
    }

    #[test]
    fn a_stream_version_beyond_int64_is_not_storable() {
        let mut refusal = refusal();
        refusal.stream_version = u64::MAX;
        assert_eq!(encode_refusal(&refusal), None);
    }

    #[test]
    fn corrupt_refusals_name_the_command_and_field() {
        let refusal = refusal();
        let mut document = encode_refusal(&refusal).expect("storable");
        document.insert("code", 7);
        let error = decode_refusal(&document).unwrap_err();
        assert!(
            error.contains(&refusal.command_id.to_string()) && error.contains("code"),
            "{error}"
        );
        let error = decode_refusal(&doc! { "_id": "not a uuid" }).unwrap_err();
        assert!(error.contains("_id"), "{error}");
    }
}
