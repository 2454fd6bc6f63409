//! BSON encodings of what the store keeps: event documents, payloads, snapshots, refusals.
//!
//! Everything here is a pure function, unit-tested without a server.

mod envelope;
mod payload;
mod refusal;
mod snapshot;

pub use envelope::{
    decode_event, encode_event, encode_metadata, fields, now_millis, EventDocument,
};
pub use payload::{decode_payload, encode_payload, PayloadError};
pub use refusal::{decode_refusal, encode_refusal};
pub use snapshot::{decode_snapshot, encode_snapshot};

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document};
use uuid::Uuid;

/// A UUID as BSON binary subtype 4 (the standard UUID representation).
pub fn uuid_to_bson(id: Uuid) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: id.as_bytes().to_vec(),
    })
}

/// A position, version or count as a BSON `Int64`. Values above `i64::MAX` cannot be
/// stored; callers decide what that means (nothing to read, or invalid input).
pub fn u64_to_i64(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

/// Reads a UUID stored by [`uuid_to_bson`].
pub(crate) fn get_uuid(doc: &Document, key: &str) -> Result<Uuid, String> {
    match doc.get(key) {
        Some(Bson::Binary(Binary {
            subtype: BinarySubtype::Uuid,
            bytes,
        })) => Uuid::from_slice(bytes).map_err(|e| format!("field `{key}`: {e}")),
        Some(other) => Err(format!(
            "field `{key}` is a {:?}, not a UUID",
            other.element_type()
        )),
        None => Err(format!("field `{key}` is missing")),
    }
}

/// Reads an optional UUID (absent or null reads as `None`).
pub(crate) fn get_optional_uuid(doc: &Document, key: &str) -> Result<Option<Uuid>, String> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => get_uuid(doc, key).map(Some),
    }
}

/// Reads a non-negative integer (stored as `Int64`; `Int32` accepted from manual edits).
pub(crate) fn get_u64(doc: &Document, key: &str) -> Result<u64, String> {
    let value = match doc.get(key) {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(other) => {
            return Err(format!(
                "field `{key}` is a {:?}, not an integer",
                other.element_type()
            ))
        }
        None => return Err(format!("field `{key}` is missing")),
    };
    u64::try_from(value).map_err(|_| format!("field `{key}` is negative ({value})"))
}

/// Reads a string field.
pub(crate) fn get_str<'a>(doc: &'a Document, key: &str) -> Result<&'a str, String> {
    match doc.get(key) {
        Some(Bson::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "field `{key}` is a {:?}, not a string",
            other.element_type()
        )),
        None => Err(format!("field `{key}` is missing")),
    }
}
