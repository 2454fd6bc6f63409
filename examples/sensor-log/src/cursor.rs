//! Opaque page cursors for keyset pagination.
//!
//! A cursor names the last item of the page it came with; the next page starts right
//! after it (`WHERE key > cursor ORDER BY key`), so pages stay exact while readings keep
//! arriving, and a page costs the same however deep it is, unlike `OFFSET`. Cursors are
//! hex text; clients pass them back unchanged and must not build them.

use chrono::{DateTime, Utc};

use crate::reading::SensorId;

/// Where the next page of a sensor's readings starts: after `after` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingsCursor {
    /// The sensor the cursor belongs to.
    pub sensor_id: SensorId,
    /// Timestamp of the last reading of the previous page.
    pub after: DateTime<Utc>,
}

/// Where the next page of sensors starts: after id `after` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorsCursor {
    /// Id of the last sensor of the previous page.
    pub after: SensorId,
}

/// A cursor that was not produced by this service (or for another sensor).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a valid cursor for this query: pass back the `next_cursor` of the previous page unchanged"
)]
pub struct CursorError;

impl ReadingsCursor {
    /// The cursor's text.
    ///
    /// ```
    /// use sensor_log::cursor::ReadingsCursor;
    /// let cursor = ReadingsCursor { sensor_id: 7, after: chrono::DateTime::from_timestamp(1646409307, 0).unwrap() };
    /// assert_eq!(ReadingsCursor::decode(&cursor.encode(), 7), Ok(cursor));
    /// assert!(ReadingsCursor::decode(&cursor.encode(), 8).is_err());
    /// ```
    pub fn encode(&self) -> String {
        hex(&format!(
            "r1:{}:{}",
            self.sensor_id,
            self.after.timestamp_micros()
        ))
    }

    /// Parses a cursor, checking it belongs to `sensor_id`.
    pub fn decode(text: &str, sensor_id: SensorId) -> Result<Self, CursorError> {
        let plain = unhex(text)?;
        let mut parts = plain.strip_prefix("r1:").ok_or(CursorError)?.split(':');
        let sensor: SensorId = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(CursorError)?;
        let micros: i64 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(CursorError)?;
        if parts.next().is_some() || sensor != sensor_id {
            return Err(CursorError);
        }
        let after = DateTime::from_timestamp_micros(micros)
            .filter(|t| crate::store::TimeRange::queryable(*t))
            .ok_or(CursorError)?;
        Ok(Self { sensor_id, after })
    }
}

impl SensorsCursor {
    /// The cursor's text.
    pub fn encode(&self) -> String {
        hex(&format!("s1:{}", self.after))
    }

    /// Parses a cursor.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let plain = unhex(text)?;
        let after = plain
            .strip_prefix("s1:")
            .and_then(|id| id.parse().ok())
            .ok_or(CursorError)?;
        Ok(Self { after })
    }
}

fn hex(plain: &str) -> String {
    plain.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<String, CursorError> {
    if text.len() % 2 != 0 || text.len() > 128 || !text.is_ascii() {
        return Err(CursorError);
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| CursorError))
        .collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map_err(|_| CursorError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_cursor_round_trips() {
        let cursor = SensorsCursor { after: 42 };
        assert_eq!(SensorsCursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn forged_or_foreign_cursors_are_refused() {
        let readings = ReadingsCursor {
            sensor_id: 1,
            after: DateTime::from_timestamp(1_646_409_307, 0).unwrap(),
        };
        for bad in [
            "",
            "zz",
            "abc",
            "7331",
            "é1",
            &hex("s1:x"),
            &hex("r1:1:2:3"),
            &readings.encode(),
        ] {
            assert_eq!(SensorsCursor::decode(bad), Err(CursorError), "{bad}");
        }
        assert_eq!(
            ReadingsCursor::decode(&SensorsCursor { after: 1 }.encode(), 1),
            Err(CursorError)
        );
    }
}
