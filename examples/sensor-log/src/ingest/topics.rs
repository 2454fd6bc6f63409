//! The Kafka topics of the writer job.

/// Topic names; the defaults are the ones devices publish to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Readings: JSON arrays. Default `logger.sensor.ts`.
    pub readings: String,
    /// Sensor metadata: JSON objects. Default `logger.sensor.instance`.
    pub sensors: String,
    /// Where malformed messages of both go, with the reason in the `dlq-error` header.
    /// Default `logger.sensor.ts.dlq`.
    pub dead_letter: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            readings: "logger.sensor.ts".into(),
            sensors: "logger.sensor.instance".into(),
            dead_letter: "logger.sensor.ts.dlq".into(),
        }
    }
}

impl Topics {
    /// The three topics with a common suffix, e.g. for isolated tests.
    pub fn with_suffix(suffix: &str) -> Self {
        let defaults = Self::default();
        Self {
            readings: format!("{}.{suffix}", defaults.readings),
            sensors: format!("{}.{suffix}", defaults.sensors),
            dead_letter: format!("{}.{suffix}", defaults.dead_letter),
        }
    }

    /// All three, for creating them.
    pub fn all(&self) -> [&str; 3] {
        [&self.readings, &self.sensors, &self.dead_letter]
    }
}
