//! Why a device message was refused.

use std::fmt;

/// A refused device message: what is wrong and where.
///
/// Its [`Display`](fmt::Display) form, e.g. `out_of_range at [2].cpu: 120 is outside
/// 0..=100`, is what the dead-letter topic's `dlq-error` header and the HTTP error body
/// carry; [`RejectReason::code`] is the stable machine-readable part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Rejection {
    /// Path of the offending field (`[3].cpu`, `id`), or `None` for the message as a whole.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: RejectReason,
}

impl Rejection {
    /// A rejection of the whole message.
    pub fn message(reason: RejectReason) -> Self {
        Self {
            field: None,
            reason,
        }
    }

    /// A rejection of one field.
    pub fn field(field: impl Into<String>, reason: RejectReason) -> Self {
        Self {
            field: Some(field.into()),
            reason,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} at {field}: {}", self.reason.code(), self.reason),
            None => write!(f, "{}: {}", self.reason.code(), self.reason),
        }
    }
}

/// What is wrong with a device message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RejectReason {
    /// Larger than [`Limits::max_message_bytes`](super::Limits::max_message_bytes).
    #[error("message of {bytes} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// Size of the message.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// More readings than [`Limits::max_readings`](super::Limits::max_readings).
    #[error("{count} readings exceed the limit of {max} per message")]
    TooManyReadings {
        /// Readings in the message.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8 JSON.
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    /// An array without readings.
    #[error("the array holds no readings")]
    Empty,
    /// A required field is absent (or `null`).
    #[error("required field is missing")]
    MissingField,
    /// A value has the wrong JSON type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What was expected, e.g. `an integer`.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A value outside its allowed range.
    #[error("{value} is outside {allowed}")]
    OutOfRange {
        /// The value, as sent.
        value: String,
        /// The allowed range.
        allowed: String,
    },
    /// Both `ts` (seconds) and `ts_ms` (milliseconds) were sent.
    #[error("send either `ts` (seconds) or `ts_ms` (milliseconds), not both")]
    AmbiguousTimestamp,
    /// A text holds a control character (NUL, a line break, a tab, DEL, U+0080..=U+009F):
    /// PostgreSQL refuses NUL in text outright, and the others are never part of a sensor
    /// type or location.
    #[error("holds the control character {character} at character {position}; text may not contain control characters")]
    ControlCharacter {
        /// The character, written as `U+0000`.
        character: String,
        /// Its index in the text, in characters, from 0.
        position: usize,
    },
    /// A timestamp whose magnitude belongs to the other unit.
    #[error("{value} looks like {looks_like}; send it as `{use_field}`")]
    TimestampUnit {
        /// The value, as sent.
        value: i64,
        /// `milliseconds` or `seconds`.
        looks_like: &'static str,
        /// The field that takes that unit.
        use_field: &'static str,
    },
}

impl RejectReason {
    /// Stable, machine-readable name of the reason.
    ///
    /// ```
    /// use sensor_log::device::RejectReason;
    /// assert_eq!(RejectReason::MissingField.code(), "missing_field");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Oversized { .. } => "oversized",
            RejectReason::TooManyReadings { .. } => "too_many_readings",
            RejectReason::InvalidJson(_) => "invalid_json",
            RejectReason::Empty => "empty",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType { .. } => "wrong_type",
            RejectReason::OutOfRange { .. } => "out_of_range",
            RejectReason::AmbiguousTimestamp => "ambiguous_timestamp",
            RejectReason::TimestampUnit { .. } => "timestamp_unit",
            RejectReason::ControlCharacter { .. } => "control_character",
        }
    }
}
