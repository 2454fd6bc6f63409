//! Reading JSON request bodies field by field, so every error names the field.
//!
//! Deserializing straight into a struct would report "invalid type at line 1 column 40";
//! these helpers report `items[2].quantity: must be an integer from 1 to 1000`.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::ApiError;

/// A JSON object being read, with the path it sits at (empty for the body itself).
#[derive(Debug)]
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
}

/// Parses a request body that must be a JSON object.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson(
            "the body is empty; expected a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

impl<'a> Fields<'a> {
    /// The top-level object of a body.
    pub fn of_body(value: &'a Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(object) => Ok(Self {
                object,
                path: String::new(),
            }),
            _ => Err(ApiError::MalformedJson(
                "expected a JSON object at the top level".into(),
            )),
        }
    }

    /// The full path of `field` in the body, e.g. `items[2].quantity`.
    pub fn at(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    /// Refuses fields not in `known` (a typo would otherwise be silently ignored).
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.object.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(ApiError::field(
                self.at(unknown),
                format!("unknown field; expected one of: {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// A required string field, checked by `check`.
    pub fn string(
        &self,
        field: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<String, ApiError> {
        match self.optional_string(field, check)? {
            Some(text) => Ok(text),
            None => Err(ApiError::field(self.at(field), "is required")),
        }
    }

    /// An optional string field (absent or null is `None`), checked by `check`.
    pub fn optional_string(
        &self,
        field: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Option<String>, ApiError> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => check(text)
                .map(|()| Some(text.clone()))
                .map_err(|message| ApiError::field(self.at(field), message)),
            Some(other) => Err(ApiError::field(
                self.at(field),
                format!("must be a string, got {}", kind(other)),
            )),
        }
    }

    /// A required integer field within `range`.
    pub fn integer(&self, field: &str, range: RangeInclusive<u64>) -> Result<u64, ApiError> {
        let out_of_range = || {
            ApiError::field(
                self.at(field),
                format!(
                    "must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        };
        match self.object.get(field) {
            None | Some(Value::Null) => Err(ApiError::field(self.at(field), "is required")),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if range.contains(&v) => Ok(v),
                _ => Err(out_of_range()),
            },
            Some(other) => Err(ApiError::field(
                self.at(field),
                format!("must be an integer, got {}", kind(other)),
            )),
        }
    }

    /// A required array of objects with `len` elements; each is returned with its path.
    pub fn objects(
        &self,
        field: &str,
        len: RangeInclusive<usize>,
    ) -> Result<Vec<Fields<'a>>, ApiError> {
        let items = match self.object.get(field) {
            None | Some(Value::Null) => return Err(ApiError::field(self.at(field), "is required")),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(ApiError::field(
                    self.at(field),
                    format!("must be an array, got {}", kind(other)),
                ))
            }
        };
        if !len.contains(&items.len()) {
            return Err(ApiError::field(
                self.at(field),
                format!(
                    "must have {} to {} elements, got {}",
                    len.start(),
                    len.end(),
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.at(field));
                match item {
                    Value::Object(object) => Ok(Fields { object, path }),
                    other => Err(ApiError::field(
                        path,
                        format!("must be an object, got {}", kind(other)),
                    )),
                }
            })
            .collect()
    }
}

/// A non-empty text of at most `max` characters without control characters (NUL,
/// newline, escape, ...), by the order domain's [`check_text`](order::domain::check_text).
pub fn text(max: usize) -> impl FnOnce(&str) -> Result<(), String> {
    move |s| order::domain::check_text("", s, max).map_err(|e| e.reason)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::InvalidField { field, .. } => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_nested_fields() {
        let body = json!({ "items": [{ "quantity": 1 }, { "quantity": "2" }] });
        let fields = Fields::of_body(&body).expect("object");
        let items = fields.objects("items", 1..=10).expect("array");
        assert_eq!(items[0].integer("quantity", 1..=5).ok(), Some(1));
        let error = items[1].integer("quantity", 1..=5).expect_err("a string");
        assert_eq!(field_of(error), "items[1].quantity");
    }

    #[test]
    fn out_of_range_negative_and_fractional_integers_are_refused() {
        let body = json!({ "a": 0, "b": -1, "c": 1.5, "d": 6 });
        let fields = Fields::of_body(&body).expect("object");
        for name in ["a", "b", "c", "d"] {
            assert_eq!(field_of(fields.integer(name, 1..=5).expect_err(name)), name);
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = json!({ "sku": "a", "qyt": 1 });
        let fields = Fields::of_body(&body).expect("object");
        assert_eq!(
            field_of(fields.only(&["sku", "qty"]).expect_err("typo")),
            "qyt"
        );
    }

    #[test]
    fn malformed_and_empty_bodies_are_refused() {
        assert!(matches!(
            parse_body(b"{\"a\":"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(parse_body(b"  "), Err(ApiError::MalformedJson(_))));
        let array = parse_body(b"[1]").expect("valid JSON");
        assert!(matches!(
            Fields::of_body(&array),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
