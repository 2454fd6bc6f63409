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
use cqrs_core::FailureKind;

pub use memory::MemoryStore;
pub use postgres::{BucketFunction, PostgresStore};
pub use query::{
    BucketStats, LatestReading, Summary, TimeRange, WindowAverage, EARLIEST_QUERY_SECONDS,
    LATEST_QUERY_SECONDS,
};

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

    /// Whether the store answers now (for `GET /health/ready`): a cheap round trip.
    /// Default: always (a store in memory).
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A storage failure. Nothing was half-applied, whatever the variant; what differs is
/// whether trying again can help ([`StoreError::kind`]).
///
/// ```
/// use cqrs_core::FailureKind;
/// use sensor_log::store::StoreError;
/// let timeout = StoreError::from_driver("inserting 3 readings", sqlx::Error::PoolTimedOut);
/// assert_eq!(timeout.kind(), FailureKind::Transient);
/// assert!(StoreError::InvalidSchema("Bad-Name".into()).kind() == FailureKind::Permanent);
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed the statement for a reason that may
    /// pass (connection lost or refused, pool timeout, serialization failure, server
    /// shutting down: SQLSTATE classes 08, 40, 53, 57, ...). Try again later.
    #[error("{operation} failed: {source}")]
    Unavailable {
        /// What was being done, e.g. `inserting 500 readings`.
        operation: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database refused the statement **for good**: the same data fails the same way
    /// every time (a data exception such as a NUL in text, `22021`; a constraint, class
    /// `23`; a program limit, class `54`; a missing table or a permission, class `42`), or
    /// a value could not be encoded or decoded. Retrying cannot help: dead-letter the input
    /// (see [`StoreError::is_bad_input`]) or fix the database.
    #[error("{operation} refused{}: {source}", code.as_deref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default())]
    Refused {
        /// What was being done.
        operation: String,
        /// The SQLSTATE, when the server answered with one.
        code: Option<String>,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The configured PostgreSQL schema name is not a plain identifier.
    #[error("invalid schema name `{0}`: use lowercase letters, digits and underscores, starting with a letter")]
    InvalidSchema(String),
}

impl StoreError {
    /// A driver error of `operation`, classified by [`cqrs_postgres::classify`] (SQLSTATE
    /// class for database errors): [`StoreError::Refused`] when permanent,
    /// [`StoreError::Unavailable`] when transient. Never "every database error is
    /// transient": a refused row would be retried forever and stall the writer.
    pub fn from_driver(operation: impl Into<String>, source: sqlx::Error) -> Self {
        let operation = operation.into();
        match cqrs_postgres::classify(&source) {
            FailureKind::Transient => StoreError::Unavailable { operation, source },
            FailureKind::Permanent => StoreError::Refused {
                operation,
                code: source
                    .as_database_error()
                    .and_then(|db| db.code())
                    .map(|code| code.into_owned()),
                source,
            },
        }
    }

    /// Whether trying again can help.
    pub fn kind(&self) -> FailureKind {
        match self {
            StoreError::Unavailable { .. } => FailureKind::Transient,
            StoreError::Refused { .. } | StoreError::InvalidSchema(_) => FailureKind::Permanent,
        }
    }

    /// The data is at fault, not the database ([`cqrs_postgres::sqlstate_blames_input`]:
    /// a data exception, an integrity or program limit, ...). The HTTP API answers these
    /// with 422; other permanent refusals (a missing table, a permission) are the service's
    /// own fault.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StoreError::Refused { code: Some(code), .. } if cqrs_postgres::sqlstate_blames_input(code)
        )
    }

    /// The SQLSTATE of a refusal, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_errors_that_may_pass_are_unavailable_and_transient() {
        for source in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            let error = StoreError::from_driver("inserting 3 readings", source);
            assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
            assert_eq!(error.kind(), FailureKind::Transient);
            assert!(!error.is_bad_input());
        }
    }

    #[test]
    fn driver_errors_that_cannot_pass_are_refused_and_permanent() {
        let error = StoreError::from_driver("reading sensors", sqlx::Error::RowNotFound);
        assert!(
            matches!(error, StoreError::Refused { code: None, .. }),
            "{error:?}"
        );
        assert_eq!(error.kind(), FailureKind::Permanent);
        assert!(!error.is_bad_input(), "no SQLSTATE: the service's fault");
    }

    #[test]
    fn only_data_sqlstate_classes_are_bad_input() {
        let refused = |code: &str| StoreError::Refused {
            operation: "storing".into(),
            code: Some(code.into()),
            source: sqlx::Error::RowNotFound,
        };
        for code in ["22021", "22008", "23514", "54000"] {
            assert!(refused(code).is_bad_input(), "{code}");
        }
        for code in ["42P01", "42501", "0A000"] {
            assert!(!refused(code).is_bad_input(), "{code}");
        }
        assert_eq!(refused("22021").code(), Some("22021"));
        assert!(refused("22021").to_string().contains("SQLSTATE 22021"));
    }
}
