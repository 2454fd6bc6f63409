//! The in-memory store of embedded mode.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::query::{BucketStats, LatestReading, Summary, TimeRange, WindowAverage};
use super::{SensorStore, StoreError};
use crate::device::SensorInfo;
use crate::reading::{Reading, SensorId};
use crate::span::Span;

/// Readings and sensors in memory, with the same answers as
/// [`PostgresStore`](super::PostgresStore).
///
/// The lock is shared by the ingest path and concurrent queries; it is never held across
/// an `.await`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sensor_log::store::{MemoryStore, SensorStore};
/// use sensor_log::device::{decode_readings, Limits};
/// let store = MemoryStore::default();
/// let raw = br#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
/// let readings = decode_readings(raw, &Limits::default()).unwrap();
/// assert_eq!(store.insert_readings(&readings).await.unwrap(), 1);
/// assert_eq!(store.insert_readings(&readings).await.unwrap(), 0); // idempotent
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sensors: BTreeMap<SensorId, SensorInfo>,
    /// Per sensor: readings by timestamp in microseconds.
    readings: BTreeMap<SensorId, BTreeMap<i64, Sample>>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    temperature: f64,
    cpu: f64,
}

impl MemoryStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Microsecond keys of `range` (after `after`, if given) in one sensor's map.
fn key_bounds(range: TimeRange, after: Option<DateTime<Utc>>) -> (Bound<i64>, Bound<i64>) {
    let from = range.from.map(|t| t.timestamp_micros());
    let start = match (from, after.map(|t| t.timestamp_micros())) {
        (Some(from), Some(after)) if from > after => Bound::Included(from),
        (_, Some(after)) => Bound::Excluded(after),
        (Some(from), None) => Bound::Included(from),
        (None, None) => Bound::Unbounded,
    };
    let end = range
        .to
        .map_or(Bound::Unbounded, |t| Bound::Excluded(t.timestamp_micros()));
    (start, end)
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[async_trait]
impl SensorStore for MemoryStore {
    async fn insert_readings(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        let mut inner = self.write();
        let mut inserted = 0;
        for reading in readings {
            inner
                .sensors
                .entry(reading.sensor_id)
                .or_insert_with(|| SensorInfo {
                    id: reading.sensor_id,
                    kind: None,
                    location: None,
                });
            let series = inner.readings.entry(reading.sensor_id).or_default();
            if let std::collections::btree_map::Entry::Vacant(slot) =
                series.entry(reading.ts.timestamp_micros())
            {
                slot.insert(Sample {
                    temperature: reading.temperature,
                    cpu: reading.cpu,
                });
                inserted += 1;
            }
        }
        Ok(inserted)
    }

    async fn upsert_sensor(&self, sensor: &SensorInfo) -> Result<(), StoreError> {
        self.write().sensors.insert(sensor.id, sensor.clone());
        Ok(())
    }

    async fn sensors(
        &self,
        after: Option<SensorId>,
        limit: usize,
    ) -> Result<Vec<SensorInfo>, StoreError> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let inner = self.read();
        Ok(inner
            .sensors
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|(_, sensor)| sensor.clone())
            .collect())
    }

    async fn readings(
        &self,
        sensor: SensorId,
        range: TimeRange,
        after: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        let inner = self.read();
        let Some(series) = inner.readings.get(&sensor) else {
            return Ok(Vec::new());
        };
        let (start, end) = key_bounds(range, after);
        if matches!((start, end), (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e)) if s >= e)
        {
            return Ok(Vec::new());
        }
        Ok(series
            .range((start, end))
            .take(limit)
            .map(|(micros, sample)| Reading {
                sensor_id: sensor,
                ts: time(*micros),
                temperature: sample.temperature,
                cpu: sample.cpu,
            })
            .collect())
    }

    async fn stats(
        &self,
        sensor: SensorId,
        range: TimeRange,
        bucket: Span,
        max_buckets: usize,
    ) -> Result<Vec<BucketStats>, StoreError> {
        let inner = self.read();
        let Some(series) = inner.readings.get(&sensor) else {
            return Ok(Vec::new());
        };
        let mut buckets: Vec<(i64, Vec<Sample>)> = Vec::new();
        for (micros, sample) in series
            .iter()
            .filter(|(micros, _)| range.contains(time(**micros)))
        {
            let start = micros.div_euclid(bucket.micros()) * bucket.micros();
            let full = buckets.len() == max_buckets;
            match buckets.last_mut() {
                Some((last, samples)) if *last == start => samples.push(*sample),
                _ if full => break,
                _ => buckets.push((start, vec![*sample])),
            }
        }
        Ok(buckets
            .into_iter()
            .map(|(start, samples)| BucketStats {
                bucket_start: time(start),
                count: samples.len() as i64,
                temperature: summary(samples.iter().map(|s| s.temperature)),
                cpu: summary(samples.iter().map(|s| s.cpu)),
            })
            .collect())
    }

    async fn latest(&self, window: Span) -> Result<Vec<LatestReading>, StoreError> {
        let inner = self.read();
        Ok(inner
            .readings
            .iter()
            .filter_map(|(sensor, series)| {
                let (&last, sample) = series.last_key_value()?;
                let in_window: Vec<Sample> = series
                    .range((
                        Bound::Excluded(last - window.micros()),
                        Bound::Included(last),
                    ))
                    .map(|(_, s)| *s)
                    .collect();
                Some(LatestReading {
                    sensor_id: *sensor,
                    ts: time(last),
                    temperature: sample.temperature,
                    cpu: sample.cpu,
                    average: WindowAverage {
                        window: window.to_string(),
                        count: in_window.len() as i64,
                        temperature: summary(in_window.iter().map(|s| s.temperature)).avg,
                        cpu: summary(in_window.iter().map(|s| s.cpu)).avg,
                    },
                })
            })
            .collect())
    }

    async fn count_readings(&self) -> Result<u64, StoreError> {
        Ok(self.read().readings.values().map(|s| s.len() as u64).sum())
    }
}

/// Summary of a non-empty sequence.
fn summary(values: impl Iterator<Item = f64>) -> Summary {
    let (mut sum, mut count, mut min, mut max) = (0.0, 0u32, f64::INFINITY, f64::NEG_INFINITY);
    for value in values {
        sum += value;
        count += 1;
        min = min.min(value);
        max = max.max(value);
    }
    Summary {
        avg: sum / f64::from(count.max(1)),
        min,
        max,
    }
}
