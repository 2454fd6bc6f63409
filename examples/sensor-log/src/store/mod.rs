//! Where readings and sensors are kept: one trait, two implementations.
//!
//! - [`MemoryStore`]: embedded mode and tests; nothing survives the process.
//! - [`PostgresStore`]: services mode; a time-series table (a TimescaleDB hypertable when
//!   the extension is installed) with batch inserts and statistics computed in SQL.
//!
//! Both give the same answers to the same questions; `tests/store_contract.rs` checks it.

mod memory;
mod postgres;
mod query;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemoryStore;
pub use postgres::{BucketFunction, PostgresStore};
pub use query::{BucketStats, LatestReading, Summary, TimeRange, WindowAverage};

use crate::device::SensorInfo;
use crate::reading::{Reading, SensorId};
use crate::span::Span;

/// Storage of readings and sensor metadata.
///
/// Guarantees every implementation gives:
/// - `insert_readings` is **idempotent on `(sensor_id, ts)`**: a reading whose pair is
///   already stored is skipped (the first one stays), so redelivered messages never
///   duplicate rows. All readings of one call are stored or none are, and they are
///   durable when it returns `Ok`.
/// - A reading from a sensor without metadata is stored, and the sensor is listed (with
///   unknown type and location) until its metadata arrives.
/// - Query results are ordered: sensors by id, readings by time, buckets by start.
#[async_trait]
pub trait SensorStore: Send + Sync + 'static {
    /// Stores `readings`, skipping pairs already stored; returns how many were new.
    async fn insert_readings(&self, readings: &[Reading]) -> Result<u64, StoreError>;

    /// Creates or replaces a sensor's metadata.
    async fn upsert_sensor(&self, sensor: &SensorInfo) -> Result<(), StoreError>;

    /// Up to `limit` sensors with an id greater than `after`, by id.
    async fn sensors(
        &self,
        after: Option<SensorId>,
        limit: usize,
    ) -> Result<Vec<SensorInfo>, StoreError>;

    /// Up to `limit` readings of `sensor` in `range` later than `after`, oldest first.
    async fn readings(
        &self,
        sensor: SensorId,
        range: TimeRange,
        after: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError>;

    /// Per-bucket statistics of `sensor` in `range`: at most `max_buckets` non-empty
    /// buckets of width `bucket`, oldest first.
    async fn stats(
        &self,
        sensor: SensorId,
        range: TimeRange,
        bucket: Span,
        max_buckets: usize,
    ) -> Result<Vec<BucketStats>, StoreError>;

    /// For every sensor with readings, by id: its latest reading and its averages over
    /// `window` ending at that reading.
    async fn latest(&self, window: Span) -> Result<Vec<LatestReading>, StoreError>;

    /// How many readings are stored in total.
    async fn count_readings(&self) -> Result<u64, StoreError>;
}

/// A storage failure. Every variant is an infrastructure problem: the caller may retry,
/// and nothing was half-applied.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed the statement.
    #[error("{operation} failed: {source}")]
    Unavailable {
        /// What was being done, e.g. `inserting 500 readings`.
        operation: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The configured PostgreSQL schema name is not a plain identifier.
    #[error("invalid schema name `{0}`: use lowercase letters, digits and underscores, starting with a letter")]
    InvalidSchema(String),
}
