//! Size limits of device messages and the plausible range of each measured value.

use std::ops::RangeInclusive;

/// Plausible temperatures in °C. Anything outside is a broken sensor or a unit mix-up
/// (e.g. Kelvin or tenths of a degree) and is rejected rather than stored.
pub const TEMPERATURE_RANGE: RangeInclusive<f64> = -100.0..=200.0;

/// CPU load in percent.
pub const CPU_RANGE: RangeInclusive<f64> = 0.0..=100.0;

/// How large a device message may be.
///
/// ```
/// let limits = sensor_log::device::Limits::default();
/// assert_eq!(limits.max_message_bytes, 1024 * 1024);
/// assert_eq!(limits.max_readings, 10_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, in bytes (checked before parsing). Default 1 MiB, the
    /// default maximum message size of a Kafka broker.
    pub max_message_bytes: usize,
    /// Most readings in one message. Default 10,000.
    pub max_readings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_readings: 10_000,
        }
    }
}
