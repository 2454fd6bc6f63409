//! A validated sensor reading, the unit of storage.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A sensor's id, as devices send it: a positive integer (`1..=i64::MAX`).
pub type SensorId = i64;

/// One measurement of one sensor at one instant. Only [`device`](crate::device)
/// validation creates readings from input, so every field is within its documented range.
///
/// Readings are identified by `(sensor_id, ts)`: storing the same pair twice keeps the
/// first, so redelivered messages never duplicate rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// The sensor.
    pub sensor_id: SensorId,
    /// When it was measured (millisecond precision).
    pub ts: DateTime<Utc>,
    /// Temperature in °C.
    pub temperature: f64,
    /// CPU load in percent.
    pub cpu: f64,
}
