//! What the stores answer: ranges asked for and the shapes of the results.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::reading::SensorId;

/// A time range: `from` inclusive, `to` exclusive; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest instant included.
    pub from: Option<DateTime<Utc>>,
    /// First instant excluded.
    pub to: Option<DateTime<Utc>>,
}

/// 0001-01-01T00:00:00Z: the earliest time a query may name, in Unix seconds.
pub const EARLIEST_QUERY_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z: the latest time a query may name, in Unix seconds.
///
/// Beyond these PostgreSQL refuses the value (`timestamp out of range`, SQLSTATE 22008),
/// and RFC 3339 has no way to write it; no reading lies there anyway (readings are
/// 2000 ..= 2100).
pub const LATEST_QUERY_SECONDS: i64 = 253_402_300_799;

impl TimeRange {
    /// Whether `time` may be named by a query (see [`EARLIEST_QUERY_SECONDS`]).
    ///
    /// ```
    /// use sensor_log::store::TimeRange;
    /// let y2022 = chrono::DateTime::from_timestamp(1_646_409_600, 0).unwrap();
    /// assert!(TimeRange::queryable(y2022));
    /// assert!(!TimeRange::queryable(chrono::DateTime::<chrono::Utc>::MIN_UTC));
    /// ```
    pub fn queryable(time: DateTime<Utc>) -> bool {
        (EARLIEST_QUERY_SECONDS..=LATEST_QUERY_SECONDS).contains(&time.timestamp())
    }

    /// Whether `ts` lies in the range.
    pub fn contains(&self, ts: DateTime<Utc>) -> bool {
        let after_start = match self.from {
            Some(from) => ts >= from,
            None => true,
        };
        let before_end = match self.to {
            Some(to) => ts < to,
            None => true,
        };
        after_start && before_end
    }
}

/// Average, minimum and maximum of one measured value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub avg: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// Statistics of one sensor over one time bucket. Buckets are aligned on the Unix epoch
/// (a `30m` bucket starts at :00 or :30 UTC); empty buckets are not reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketStats {
    /// Start of the bucket (inclusive); it ends one bucket width later (exclusive).
    pub bucket_start: DateTime<Utc>,
    /// Readings in the bucket.
    pub count: i64,
    /// Temperature in °C.
    pub temperature: Summary,
    /// CPU load in percent.
    pub cpu: Summary,
}

/// A sensor's most recent reading and its averages over the window ending at it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatestReading {
    /// The sensor.
    pub sensor_id: SensorId,
    /// Time of the latest reading.
    pub ts: DateTime<Utc>,
    /// Its temperature in °C.
    pub temperature: f64,
    /// Its CPU load in percent.
    pub cpu: f64,
    /// Averages over the readings in `(ts - window, ts]`.
    pub average: WindowAverage,
}

/// Averages over a window of readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowAverage {
    /// The window, e.g. `1h`.
    pub window: String,
    /// Readings in the window (at least the latest one).
    pub count: i64,
    /// Mean temperature in °C.
    pub temperature: f64,
    /// Mean CPU load in percent.
    pub cpu: f64,
}
