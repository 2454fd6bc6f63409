//! Time spans written the way people write them: `30s`, `30m`, `1h`, `7d`.

use std::fmt;
use std::str::FromStr;

/// A positive whole number of seconds, at most 366 days: a stats bucket width or an
/// averaging window.
///
/// ```
/// use sensor_log::span::Span;
/// let span: Span = "30m".parse().unwrap();
/// assert_eq!(span.seconds(), 1800);
/// assert_eq!(span.to_string(), "30m");
/// assert!("0m".parse::<Span>().is_err());
/// assert!("30".parse::<Span>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    seconds: i64,
}

/// The longest span: 366 days.
pub const MAX_SPAN_SECONDS: i64 = 366 * 86_400;

impl Span {
    /// Ten minutes.
    pub const TEN_MINUTES: Span = Span { seconds: 600 };
    /// Thirty minutes: the default stats bucket.
    pub const THIRTY_MINUTES: Span = Span { seconds: 1_800 };
    /// One hour: the default averaging window of the latest values.
    pub const ONE_HOUR: Span = Span { seconds: 3_600 };

    /// A span of `seconds`, if in `1..=MAX_SPAN_SECONDS`.
    pub fn from_seconds(seconds: i64) -> Option<Self> {
        (1..=MAX_SPAN_SECONDS)
            .contains(&seconds)
            .then_some(Self { seconds })
    }

    /// Length in seconds.
    pub fn seconds(self) -> i64 {
        self.seconds
    }

    /// Length in microseconds.
    pub fn micros(self) -> i64 {
        self.seconds * 1_000_000
    }
}

/// Why a span could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a span: write a whole number and a unit (s, m, h, d) between 1s and 366d, e.g. 30m")]
pub struct SpanError {
    /// The text given.
    pub text: String,
}

impl FromStr for Span {
    type Err = SpanError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || SpanError {
            text: text.to_owned(),
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        let (number, unit) = text.split_at(split);
        let number: i64 = number.parse().map_err(|_| error())?;
        let unit_seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(error()),
        };
        number
            .checked_mul(unit_seconds)
            .and_then(Span::from_seconds)
            .ok_or_else(error)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        match () {
            () if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            () if s % 3_600 == 0 => write!(f, "{}h", s / 3_600),
            () if s % 60 == 0 => write!(f, "{}m", s / 60),
            () => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_to_seconds() {
        for (text, seconds) in [
            ("15s", 15),
            ("30m", 1800),
            ("1h", 3600),
            ("2d", 172_800),
            ("366d", MAX_SPAN_SECONDS),
        ] {
            assert_eq!(
                text.parse::<Span>().map(Span::seconds),
                Ok(seconds),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_or_out_of_range_spans_are_refused() {
        for text in [
            "",
            "m",
            "30",
            "30x",
            "-5m",
            "1.5h",
            "0s",
            "367d",
            "99999999999999999999d",
            "30 m",
        ] {
            assert!(text.parse::<Span>().is_err(), "{text}");
        }
    }

    #[test]
    fn display_uses_the_largest_whole_unit() {
        assert_eq!("90m".parse::<Span>().unwrap().to_string(), "90m");
        assert_eq!("120m".parse::<Span>().unwrap().to_string(), "2h");
        assert_eq!("86400s".parse::<Span>().unwrap().to_string(), "1d");
    }
}
