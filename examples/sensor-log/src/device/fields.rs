//! Typed access to the fields of a JSON object, each failure a [`Rejection`] naming the
//! field.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::limits::Limits;
use super::rejection::{RejectReason, Rejection};

/// A whole device message parsed as JSON: `oversized` (checked before parsing) or
/// `invalid_json` otherwise.
pub(super) fn parse_message(raw: &[u8], limits: &Limits) -> Result<Value, Rejection> {
    if raw.len() > limits.max_message_bytes {
        return Err(Rejection::message(RejectReason::Oversized {
            bytes: raw.len(),
            max: limits.max_message_bytes,
        }));
    }
    serde_json::from_slice(raw)
        .map_err(|e| Rejection::message(RejectReason::InvalidJson(e.to_string())))
}

/// A JSON object being read, with the path of the object for error messages (`[2]`, or
/// empty for a top-level object).
pub(super) struct Fields<'a> {
    pub(super) object: &'a Map<String, Value>,
    pub(super) path: String,
}

impl<'a> Fields<'a> {
    /// `value` as an object, or a `wrong_type` rejection at `path`.
    pub(super) fn of(value: &'a Value, path: String) -> Result<Self, Rejection> {
        match value {
            Value::Object(object) => Ok(Self { object, path }),
            other => Err(wrong_type(field_or_message(&path), "an object", other)),
        }
    }

    /// The full path of field `name`.
    pub(super) fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The field, `None` when absent or `null`.
    pub(super) fn get(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    /// A required integer.
    pub(super) fn integer(&self, name: &str) -> Result<i64, Rejection> {
        let value = self.required(name)?;
        value
            .as_i64()
            .ok_or_else(|| wrong_type(Some(self.path_of(name)), "an integer", value))
    }

    /// A required integer in `1..=i64::MAX`.
    pub(super) fn positive_id(&self, name: &str) -> Result<i64, Rejection> {
        let value = self.required(name)?;
        match value.as_i64() {
            Some(id) if id > 0 => Ok(id),
            _ if value.is_u64() || value.is_i64() => Err(Rejection::field(
                self.path_of(name),
                RejectReason::OutOfRange {
                    value: value.to_string(),
                    allowed: format!("1..={}", i64::MAX),
                },
            )),
            _ => Err(wrong_type(
                Some(self.path_of(name)),
                "a positive integer",
                value,
            )),
        }
    }

    /// A required finite number within `range`.
    pub(super) fn number_in(
        &self,
        name: &str,
        range: &RangeInclusive<f64>,
    ) -> Result<f64, Rejection> {
        let value = self.required(name)?;
        let number = value
            .as_f64()
            .ok_or_else(|| wrong_type(Some(self.path_of(name)), "a number", value))?;
        if number.is_finite() && range.contains(&number) {
            Ok(number)
        } else {
            Err(Rejection::field(
                self.path_of(name),
                RejectReason::OutOfRange {
                    value: value.to_string(),
                    allowed: format!("{}..={}", range.start(), range.end()),
                },
            ))
        }
    }

    /// An optional string of at most `max_chars` characters and without control
    /// characters (see [`RejectReason::ControlCharacter`]).
    pub(super) fn optional_text(
        &self,
        name: &str,
        max_chars: usize,
    ) -> Result<Option<String>, Rejection> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let text = value
            .as_str()
            .ok_or_else(|| wrong_type(Some(self.path_of(name)), "a string", value))?;
        let chars = text.chars().count();
        if chars > max_chars {
            return Err(Rejection::field(
                self.path_of(name),
                RejectReason::OutOfRange {
                    value: format!("a text of {chars} characters"),
                    allowed: format!("at most {max_chars} characters"),
                },
            ));
        }
        if let Some((position, character)) = text.chars().enumerate().find(|(_, c)| c.is_control())
        {
            return Err(Rejection::field(
                self.path_of(name),
                RejectReason::ControlCharacter {
                    character: format!("U+{:04X}", u32::from(character)),
                    position,
                },
            ));
        }
        Ok(Some(text.to_owned()))
    }

    fn required(&self, name: &str) -> Result<&'a Value, Rejection> {
        self.get(name)
            .ok_or_else(|| Rejection::field(self.path_of(name), RejectReason::MissingField))
    }
}

/// A `wrong_type` rejection at `field` (or of the whole message).
pub(super) fn wrong_type(
    field: Option<String>,
    expected: &'static str,
    found: &Value,
) -> Rejection {
    Rejection {
        field,
        reason: RejectReason::WrongType {
            expected,
            found: json_type(found),
        },
    }
}

fn field_or_message(path: &str) -> Option<String> {
    (!path.is_empty()).then(|| path.to_owned())
}

/// The JSON type of `value`, for error messages.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "an integer out of range",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
