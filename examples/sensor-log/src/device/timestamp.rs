//! Reading timestamps: `ts` in Unix epoch **seconds**, or `ts_ms` in **milliseconds**.
//!
//! The unit is named by the field, never guessed from the value. Since mixing them up is
//! the classic device bug, the magnitude is checked against the field's unit: a `ts` of
//! 10^11 or more (year 5138 in seconds, but March 1973 in milliseconds) is refused with a
//! `timestamp_unit` rejection telling the device to send `ts_ms`, and a `ts_ms` below
//! 10^11 is refused telling it to send `ts`. Accepted timestamps lie in
//! 2000-01-01 ..= 2100-01-01 UTC.

use chrono::{DateTime, Utc};

use super::fields::Fields;
use super::rejection::{RejectReason, Rejection};

/// 2000-01-01T00:00:00Z: earliest accepted timestamp, in seconds.
pub const MIN_EPOCH_SECONDS: i64 = 946_684_800;
/// 2100-01-01T00:00:00Z: latest accepted timestamp, in seconds.
pub const MAX_EPOCH_SECONDS: i64 = 4_102_444_800;
/// Values of this magnitude or more are milliseconds, below it seconds.
pub const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// The reading's time from `ts` (seconds) or `ts_ms` (milliseconds): exactly one of them.
pub(super) fn timestamp(fields: &Fields<'_>) -> Result<DateTime<Utc>, Rejection> {
    match (fields.get("ts").is_some(), fields.get("ts_ms").is_some()) {
        (true, true) => Err(Rejection::field(
            fields.path_of("ts"),
            RejectReason::AmbiguousTimestamp,
        )),
        (false, false) => Err(Rejection::field(
            fields.path_of("ts"),
            RejectReason::MissingField,
        )),
        (true, false) => {
            let seconds = fields.integer("ts")?;
            if seconds >= MILLIS_THRESHOLD {
                return Err(unit(fields.path_of("ts"), seconds, "milliseconds", "ts_ms"));
            }
            in_range(
                fields.path_of("ts"),
                seconds,
                seconds.saturating_mul(1000),
                1,
            )
        }
        (false, true) => {
            let millis = fields.integer("ts_ms")?;
            if (0..MILLIS_THRESHOLD).contains(&millis) {
                return Err(unit(fields.path_of("ts_ms"), millis, "seconds", "ts"));
            }
            in_range(fields.path_of("ts_ms"), millis, millis, 1000)
        }
    }
}

fn in_range(
    field: String,
    sent: i64,
    millis: i64,
    per_second: i64,
) -> Result<DateTime<Utc>, Rejection> {
    let allowed = (MIN_EPOCH_SECONDS * 1000)..=(MAX_EPOCH_SECONDS * 1000);
    match DateTime::from_timestamp_millis(millis) {
        Some(time) if allowed.contains(&millis) => Ok(time),
        _ => Err(Rejection::field(
            field,
            RejectReason::OutOfRange {
                value: sent.to_string(),
                allowed: format!(
                    "{}..={} (2000-01-01 ..= 2100-01-01 UTC)",
                    MIN_EPOCH_SECONDS * per_second,
                    MAX_EPOCH_SECONDS * per_second
                ),
            },
        )),
    }
}

fn unit(field: String, value: i64, looks_like: &'static str, use_field: &'static str) -> Rejection {
    Rejection::field(
        field,
        RejectReason::TimestampUnit {
            value,
            looks_like,
            use_field,
        },
    )
}
