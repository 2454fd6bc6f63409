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

impl TimeRange {
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
