//! JSON payloads as BSON values, and back, without losing what the JSON said.
//!
//! The conversion walks the JSON text with serde (no intermediate `serde_json::Value`, so
//! object key order is kept as written) and maps:
//!
//! | JSON | BSON |
//! |---|---|
//! | object | embedded document, keys in written order |
//! | array | array |
//! | string | string (any unicode) |
//! | integer in `i64` range | `Int64` |
//! | integer above `i64::MAX` (up to `u64::MAX`) | `Decimal128` with exponent 0 (exact) |
//! | other number | `Double` |
//! | `true`/`false`/`null` | boolean / null |
//!
//! Keys that look like MongoDB extended JSON (`$oid`, `$date`, ...) stay plain keys: the
//! payload is data, never interpreted. Integers outside both `i64` and `u64` are parsed by
//! serde_json as `f64`, exactly as `JsonPayload::to_value` does.

use std::fmt;

use bson::{Bson, Decimal128, Document};
use cqrs_core::JsonPayload;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize, Serializer};

/// BSON documents may nest at most 100 levels on the server. The event document and its
/// `payload` field use two of them.
pub const MAX_PAYLOAD_DEPTH: usize = 98;

/// Why a payload could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The text is not JSON (never happens for a validated `JsonPayload`).
    #[error("the payload is not valid JSON: {0}")]
    Json(String),
    /// The payload nests deeper than MongoDB stores.
    #[error(
        "the payload nests deeper than {MAX_PAYLOAD_DEPTH} levels, which MongoDB cannot store"
    )]
    TooDeep,
    /// An object key contains a NUL character, which BSON keys cannot hold.
    #[error("an object key contains a NUL character, which BSON keys cannot hold")]
    NulInKey,
    /// A stored value has a BSON type that no JSON text produces (manual edit?).
    #[error("stored payload holds a BSON {0} value, which has no JSON equivalent")]
    NotJson(String),
}

/// Converts JSON text to a BSON value (see the module docs for the mapping).
pub fn json_to_bson(json: &str) -> Result<Bson, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = BsonSeed { depth: 0 }
        .deserialize(&mut deserializer)
        .map_err(|e| classify_json_error(&e))?;
    deserializer
        .end()
        .map_err(|e| PayloadError::Json(e.to_string()))?;
    Ok(value)
}

/// Converts a BSON value written by [`json_to_bson`] back to compact JSON text.
pub fn bson_to_json(value: &Bson) -> Result<String, PayloadError> {
    serde_json::to_string(&JsonView::Value(value)).map_err(|e| match value_type_error(value) {
        Some(kind) => PayloadError::NotJson(kind),
        None => PayloadError::Json(e.to_string()),
    })
}

fn classify_json_error(error: &serde_json::Error) -> PayloadError {
    let text = error.to_string();
    if text.starts_with(TOO_DEEP) {
        PayloadError::TooDeep
    } else if text.starts_with(NUL_KEY) {
        PayloadError::NulInKey
    } else {
        PayloadError::Json(text)
    }
}

// Our own error messages, raised through serde's custom errors and recognised above (they
// are produced here, never by a server).
const TOO_DEEP: &str = "cqrs-mongo: payload too deep";
const NUL_KEY: &str = "cqrs-mongo: NUL in key";

struct BsonSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for BsonSeed {
    type Value = Bson;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Bson, D::Error> {
        deserializer.deserialize_any(BsonVisitor { depth: self.depth })
    }
}

struct BsonVisitor {
    depth: usize,
}

impl BsonVisitor {
    fn nested<E: serde::de::Error>(&self) -> Result<BsonSeed, E> {
        if self.depth >= MAX_PAYLOAD_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(BsonSeed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for BsonVisitor {
    type Value = Bson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Bson, E> {
        Ok(Bson::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Bson, E> {
        Ok(Bson::Int64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Bson, E> {
        Ok(match i64::try_from(v) {
            Ok(small) => Bson::Int64(small),
            Err(_) => Bson::Decimal128(decimal_from_u64(v)),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Bson, E> {
        Ok(Bson::Double(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Bson, E> {
        Ok(Bson::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Bson, E> {
        Ok(Bson::String(v))
    }
    fn visit_unit<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }
    fn visit_none<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bson, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self.nested()?)? {
            items.push(item);
        }
        Ok(Bson::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bson, A::Error> {
        let mut document = Document::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.contains('\0') {
                return Err(A::Error::custom(NUL_KEY));
            }
            let value = map.next_value_seed(self.nested()?)?;
            document.insert(key, value);
        }
        Ok(Bson::Document(document))
    }
}

/// The Decimal128 encoding of an unsigned integer with exponent 0 (IEEE 754-2008 BID:
/// biased exponent 6176, coefficient in the low 113 bits; stored little-endian).
fn decimal_from_u64(v: u64) -> Decimal128 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&v.to_le_bytes());
    bytes[8..].copy_from_slice(&DECIMAL_EXPONENT_ZERO.to_le_bytes());
    Decimal128::from_bytes(bytes)
}

/// High 64 bits of a positive Decimal128 with exponent 0 and a coefficient below 2^64.
const DECIMAL_EXPONENT_ZERO: u64 = 6176 << 49;

/// The integer a Decimal128 written by [`decimal_from_u64`] holds.
fn decimal_to_u64(d: &Decimal128) -> Option<u64> {
    let bytes = d.bytes();
    let mut low = [0u8; 8];
    let mut high = [0u8; 8];
    low.copy_from_slice(&bytes[..8]);
    high.copy_from_slice(&bytes[8..]);
    (u64::from_le_bytes(high) == DECIMAL_EXPONENT_ZERO).then(|| u64::from_le_bytes(low))
}

/// Serializes a BSON value (or a borrowed document) as the JSON it came from.
enum JsonView<'a> {
    Value(&'a Bson),
    Document(&'a Document),
}

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = match self {
            JsonView::Value(value) => *value,
            JsonView::Document(document) => return serialize_document(document, serializer),
        };
        match value {
            Bson::Null => serializer.serialize_unit(),
            Bson::Boolean(b) => serializer.serialize_bool(*b),
            Bson::Int32(i) => serializer.serialize_i32(*i),
            Bson::Int64(i) => serializer.serialize_i64(*i),
            Bson::Double(f) => serializer.serialize_f64(*f),
            Bson::String(s) => serializer.serialize_str(s),
            Bson::Decimal128(d) => match decimal_to_u64(d) {
                Some(v) => serializer.serialize_u64(v),
                None => Err(S::Error::custom("unsupported Decimal128 value")),
            },
            Bson::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&JsonView::Value(item))?;
                }
                seq.end()
            }
            Bson::Document(document) => serialize_document(document, serializer),
            other => Err(S::Error::custom(format!(
                "BSON {:?} has no JSON equivalent",
                other.element_type()
            ))),
        }
    }
}

fn serialize_document<S: Serializer>(
    document: &Document,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(document.len()))?;
    for (key, value) in document {
        map.serialize_entry(key, &JsonView::Value(value))?;
    }
    map.end()
}

/// The BSON type name of the first value inside `value` that has no JSON equivalent.
fn value_type_error(value: &Bson) -> Option<String> {
    match value {
        Bson::Null
        | Bson::Boolean(_)
        | Bson::Int32(_)
        | Bson::Int64(_)
        | Bson::Double(_)
        | Bson::String(_) => None,
        Bson::Decimal128(d) => decimal_to_u64(d)
            .is_none()
            .then(|| "Decimal128 (not an integer)".to_owned()),
        Bson::Array(items) => items.iter().find_map(value_type_error),
        Bson::Document(document) => value_type_error_doc(document),
        other => Some(format!("{:?}", other.element_type())),
    }
}

fn value_type_error_doc(document: &Document) -> Option<String> {
    document.values().find_map(value_type_error)
}

/// The key a non-object payload is stored under, inside its wrapper document.
pub const WRAPPED_VALUE: &str = "value";

/// A payload as a BSON document: objects as themselves, anything else wrapped as
/// `{value: ...}`. The flag says whether it was wrapped (stored beside the document).
pub fn encode_payload(payload: &JsonPayload) -> Result<(Document, bool), PayloadError> {
    Ok(match json_to_bson(payload.as_str())? {
        Bson::Document(d) => (d, false),
        other => (bson::doc! { WRAPPED_VALUE: other }, true),
    })
}

/// The JSON payload stored by [`encode_payload`].
pub fn decode_payload(document: &Document, wrapped: bool) -> Result<JsonPayload, String> {
    let json = if wrapped {
        let value = document
            .get(WRAPPED_VALUE)
            .ok_or("wrapped payload has no `value` field")?;
        bson_to_json(value)
    } else {
        // Serializing borrows: no copy of the document.
        serde_json::to_string(&JsonView::Document(document)).map_err(
            |e| match value_type_error_doc(document) {
                Some(kind) => PayloadError::NotJson(kind),
                None => PayloadError::Json(e.to_string()),
            },
        )
    }
    .map_err(|e| e.to_string())?;
    Ok(JsonPayload::from_trusted_json(json))
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
