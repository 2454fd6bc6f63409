//! Decoding a `logger.sensor.instance` message: a sensor's metadata.

use serde::Serialize;

use super::fields::{parse_message, Fields};
use super::limits::Limits;
use super::rejection::Rejection;
use crate::reading::SensorId;

/// Longest accepted `type` or `location`, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

/// What a sensor is and where: `{"id": 1, "type": "raspberry-pi", "location": "greenhouse"}`.
///
/// `id` is required; `type` and `location` are optional strings (absent or `null` means
/// unknown). A newer message for the same id replaces the older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SensorInfo {
    /// The sensor id, as in readings' `sensor_id`.
    pub id: SensorId,
    /// Kind of device.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Where it is.
    pub location: Option<String>,
}

/// Validates a sensor metadata message.
///
/// ```
/// use sensor_log::device::{decode_sensor, Limits};
/// let info = decode_sensor(br#"{"id": 1, "type": "pi", "location": "lab"}"#, &Limits::default()).unwrap();
/// assert_eq!((info.id, info.kind.as_deref()), (1, Some("pi")));
/// ```
pub fn decode_sensor(raw: &[u8], limits: &Limits) -> Result<SensorInfo, Rejection> {
    let value = parse_message(raw, limits)?;
    let fields = Fields::of(&value, String::new())?;
    Ok(SensorInfo {
        id: fields.positive_id("id")?,
        kind: fields.optional_text("type", MAX_TEXT_CHARS)?,
        location: fields.optional_text("location", MAX_TEXT_CHARS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::RejectReason;

    fn decode(raw: &str) -> Result<SensorInfo, Rejection> {
        decode_sensor(raw.as_bytes(), &Limits::default())
    }

    #[test]
    fn metadata_with_all_fields_is_accepted() {
        let info =
            decode(r#"{"id": 7, "type": "raspberry-pi", "location": "greenhouse"}"#).unwrap();
        assert_eq!(
            info,
            SensorInfo {
                id: 7,
                kind: Some("raspberry-pi".into()),
                location: Some("greenhouse".into())
            }
        );
    }

    #[test]
    fn type_and_location_are_optional() {
        let info = decode(r#"{"id": 7, "type": null}"#).unwrap();
        assert_eq!((info.kind, info.location), (None, None));
    }

    #[test]
    fn bad_metadata_is_rejected_naming_the_field() {
        for (raw, field, code) in [
            (r#"{"type": "pi"}"#, Some("id"), "missing_field"),
            (r#"{"id": "7"}"#, Some("id"), "wrong_type"),
            (r#"{"id": 0}"#, Some("id"), "out_of_range"),
            (
                r#"{"id": 7, "location": 12}"#,
                Some("location"),
                "wrong_type",
            ),
            (r#"[{"id": 7}]"#, None, "wrong_type"),
            (r#"{"id": 7"#, None, "invalid_json"),
        ] {
            let rejection = decode(raw).expect_err(raw);
            assert_eq!(
                (rejection.field.as_deref(), rejection.reason.code()),
                (field, code),
                "{raw}"
            );
        }
    }

    #[test]
    fn nul_and_other_control_characters_are_refused_naming_the_field() {
        for (raw, field, character, position) in [
            (r#"{"id": 7, "type": "a\u0000b"}"#, "type", "U+0000", 1),
            (
                r#"{"id": 7, "location": "lab\n2"}"#,
                "location",
                "U+000A",
                3,
            ),
            (r#"{"id": 7, "location": "\t"}"#, "location", "U+0009", 0),
            (r#"{"id": 7, "type": "x\u007f"}"#, "type", "U+007F", 1),
            (r#"{"id": 7, "type": "\u009b"}"#, "type", "U+009B", 0),
        ] {
            let rejection = decode(raw).expect_err(raw);
            assert_eq!(rejection.field.as_deref(), Some(field), "{raw}");
            assert_eq!(
                rejection.reason,
                RejectReason::ControlCharacter {
                    character: character.into(),
                    position
                },
                "{raw}"
            );
        }
        let nul = decode(r#"{"id": 7, "type": "a\u0000b"}"#).unwrap_err();
        assert_eq!(
            nul.to_string(),
            "control_character at type: holds the control character U+0000 at character 1; \
             text may not contain control characters"
        );
    }

    #[test]
    fn printable_unicode_is_kept() {
        let info =
            decode(r#"{"id": 7, "type": "Ölsensor ☃", "location": "Zürich – Halle 3"}"#).unwrap();
        assert_eq!(info.location.as_deref(), Some("Zürich – Halle 3"));
    }

    #[test]
    fn overlong_text_is_out_of_range() {
        let raw = format!(
            r#"{{"id": 7, "location": "{}"}}"#,
            "x".repeat(MAX_TEXT_CHARS + 1)
        );
        let rejection = decode(&raw).unwrap_err();
        assert_eq!(
            (rejection.field.as_deref(), rejection.reason.code()),
            (Some("location"), "out_of_range")
        );
    }
}
