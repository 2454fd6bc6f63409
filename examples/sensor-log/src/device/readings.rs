//! Decoding a `logger.sensor.ts` message: a JSON array of readings.

use serde_json::Value;

use super::fields::{parse_message, wrong_type, Fields};
use super::limits::{Limits, CPU_RANGE, TEMPERATURE_RANGE};
use super::rejection::{RejectReason, Rejection};
use super::timestamp::timestamp;
use crate::reading::Reading;

/// Validates a device message and returns its readings, in message order.
///
/// Each element needs `sensor_id` (positive integer), `ts` (integer Unix seconds) **or**
/// `ts_ms` (integer Unix milliseconds), `temperature` (°C, number in
/// [`TEMPERATURE_RANGE`]) and `cpu` (percent, number in [`CPU_RANGE`]). The whole message
/// is rejected if any element is invalid.
///
/// ```
/// use sensor_log::device::{decode_readings, Limits};
/// let raw = br#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20},
///                {"ts_ms": 1646409308500, "sensor_id": 1, "temperature": 30.5, "cpu": 21}]"#;
/// let readings = decode_readings(raw, &Limits::default()).unwrap();
/// assert_eq!(readings[0].ts.timestamp(), 1646409307);
/// assert_eq!(readings[1].ts.timestamp_millis(), 1646409308500);
///
/// let bad = br#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 120}]"#;
/// let rejection = decode_readings(bad, &Limits::default()).unwrap_err();
/// assert_eq!(rejection.field.as_deref(), Some("[0].cpu"));
/// assert_eq!(rejection.reason.code(), "out_of_range");
/// ```
pub fn decode_readings(raw: &[u8], limits: &Limits) -> Result<Vec<Reading>, Rejection> {
    let value = parse_message(raw, limits)?;
    let elements = match &value {
        Value::Array(elements) => elements,
        other => return Err(wrong_type(None, "an array of readings", other)),
    };
    if elements.is_empty() {
        return Err(Rejection::message(RejectReason::Empty));
    }
    if elements.len() > limits.max_readings {
        return Err(Rejection::message(RejectReason::TooManyReadings {
            count: elements.len(),
            max: limits.max_readings,
        }));
    }
    elements
        .iter()
        .enumerate()
        .map(|(index, element)| reading(Fields::of(element, format!("[{index}]"))?))
        .collect()
}

fn reading(fields: Fields<'_>) -> Result<Reading, Rejection> {
    Ok(Reading {
        sensor_id: fields.positive_id("sensor_id")?,
        ts: timestamp(&fields)?,
        temperature: fields.number_in("temperature", &TEMPERATURE_RANGE)?,
        cpu: fields.number_in("cpu", &CPU_RANGE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &str) -> Result<Vec<Reading>, Rejection> {
        decode_readings(raw.as_bytes(), &Limits::default())
    }

    fn rejected(raw: &str) -> (Option<String>, &'static str) {
        let rejection = decode(raw).expect_err("should be rejected");
        (rejection.field, rejection.reason.code())
    }

    fn at(field: &str, code: &'static str) -> (Option<String>, &'static str) {
        (Some(field.to_owned()), code)
    }

    #[test]
    fn sample_message_from_the_spec_is_accepted() {
        let readings =
            decode(r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#)
                .unwrap();
        assert_eq!(
            readings,
            vec![Reading {
                sensor_id: 1,
                ts: chrono::DateTime::from_timestamp(1_646_409_307, 0).unwrap(),
                temperature: 30.0,
                cpu: 20.0,
            }]
        );
    }

    #[test]
    fn ts_ms_is_milliseconds_and_keeps_sub_second_precision() {
        let readings =
            decode(r#"[{"ts_ms": 1646409307250, "sensor_id": 2, "temperature": -5.5, "cpu": 0}]"#)
                .unwrap();
        assert_eq!(readings[0].ts.timestamp_millis(), 1_646_409_307_250);
        assert_eq!(readings[0].temperature, -5.5);
    }

    #[test]
    fn seconds_and_milliseconds_are_never_mixed_up() {
        let ms_in_ts = r#"[{"ts": 1646409307000, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(ms_in_ts), at("[0].ts", "timestamp_unit"));
        let s_in_ts_ms = r#"[{"ts_ms": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(s_in_ts_ms), at("[0].ts_ms", "timestamp_unit"));
        let both = r#"[{"ts": 1646409307, "ts_ms": 1646409307000, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(both), at("[0].ts", "ambiguous_timestamp"));
    }

    #[test]
    fn timestamps_outside_2000_to_2100_are_out_of_range() {
        let old = r#"[{"ts": 12, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(old), at("[0].ts", "out_of_range"));
        let far = r#"[{"ts_ms": 9000000000000, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(far), at("[0].ts_ms", "out_of_range"));
        let negative =
            r#"[{"ts_ms": -1646409307000, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(negative), at("[0].ts_ms", "out_of_range"));
    }

    #[test]
    fn fractional_seconds_are_a_wrong_type() {
        let raw = r#"[{"ts": 1646409307.5, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
        assert_eq!(rejected(raw), at("[0].ts", "wrong_type"));
    }

    #[test]
    fn missing_fields_are_named() {
        for (field, raw) in [
            (
                "[0].sensor_id",
                r#"[{"ts": 1646409307, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].ts",
                r#"[{"sensor_id": 1, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].temperature",
                r#"[{"ts": 1646409307, "sensor_id": 1, "cpu": 20}]"#,
            ),
            (
                "[0].cpu",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": null}]"#,
            ),
        ] {
            assert_eq!(rejected(raw), at(field, "missing_field"), "{raw}");
        }
    }

    #[test]
    fn wrong_types_are_named() {
        for (field, raw) in [
            (
                "[0].sensor_id",
                r#"[{"ts": 1646409307, "sensor_id": "1", "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].sensor_id",
                r#"[{"ts": 1646409307, "sensor_id": 1.5, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].ts",
                r#"[{"ts": "2022-03-04", "sensor_id": 1, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].temperature",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": "hot", "cpu": 20}]"#,
            ),
            (
                "[1].cpu",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20},
                           {"ts": 1646409308, "sensor_id": 1, "temperature": 30, "cpu": true}]"#,
            ),
            ("[0]", r#"[42]"#),
        ] {
            assert_eq!(rejected(raw), at(field, "wrong_type"), "{raw}");
        }
    }

    #[test]
    fn out_of_range_values_are_named() {
        for (field, raw) in [
            (
                "[0].sensor_id",
                r#"[{"ts": 1646409307, "sensor_id": 0, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].sensor_id",
                r#"[{"ts": 1646409307, "sensor_id": -3, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].sensor_id",
                r#"[{"ts": 1646409307, "sensor_id": 18446744073709551615, "temperature": 30, "cpu": 20}]"#,
            ),
            (
                "[0].temperature",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 300.5, "cpu": 20}]"#,
            ),
            (
                "[0].temperature",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": -273, "cpu": 20}]"#,
            ),
            (
                "[0].cpu",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 100.01}]"#,
            ),
            (
                "[0].cpu",
                r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": -1}]"#,
            ),
        ] {
            assert_eq!(rejected(raw), at(field, "out_of_range"), "{raw}");
        }
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let raw = r#"[{"ts": 946684800, "sensor_id": 9223372036854775807, "temperature": -100, "cpu": 0},
                      {"ts": 4102444800, "sensor_id": 1, "temperature": 200, "cpu": 100}]"#;
        assert_eq!(decode(raw).unwrap().len(), 2);
    }

    #[test]
    fn malformed_messages_are_rejected_as_a_whole() {
        assert_eq!(rejected("[{\"ts\": 1"), (None, "invalid_json"));
        assert_eq!(rejected("not json"), (None, "invalid_json"));
        assert_eq!(rejected(""), (None, "invalid_json"));
        assert_eq!(rejected("[]"), (None, "empty"));
        assert_eq!(
            rejected(r#"{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}"#),
            (None, "wrong_type")
        );
        let invalid_utf8 = decode_readings(b"[\xff]", &Limits::default()).unwrap_err();
        assert_eq!(invalid_utf8.reason.code(), "invalid_json");
    }

    #[test]
    fn oversized_messages_are_rejected_before_parsing() {
        let limits = Limits {
            max_message_bytes: 16,
            max_readings: 10,
        };
        let rejection = decode_readings(b"[this is not even json]", &limits).unwrap_err();
        assert_eq!(
            rejection.reason,
            RejectReason::Oversized { bytes: 23, max: 16 }
        );
    }

    #[test]
    fn too_many_readings_are_rejected() {
        let limits = Limits {
            max_message_bytes: 1 << 20,
            max_readings: 2,
        };
        let one = r#"{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}"#;
        let raw = format!("[{one},{one},{one}]");
        let rejection = decode_readings(raw.as_bytes(), &limits).unwrap_err();
        assert_eq!(
            rejection.reason,
            RejectReason::TooManyReadings { count: 3, max: 2 }
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let raw = r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20, "firmware": "1.2"}]"#;
        assert_eq!(decode(raw).unwrap().len(), 1);
    }

    #[test]
    fn rejection_text_carries_code_field_and_detail() {
        let rejection =
            decode(r#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 120}]"#)
                .unwrap_err();
        assert_eq!(
            rejection.to_string(),
            "out_of_range at [0].cpu: 120 is outside 0..=100"
        );
    }
}
