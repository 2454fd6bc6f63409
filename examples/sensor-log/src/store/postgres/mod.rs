//! The PostgreSQL store of services mode.

mod bucket;
mod schema;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{Executor, PgPool, Row};

pub use bucket::BucketFunction;

use super::query::{BucketStats, LatestReading, Summary, TimeRange, WindowAverage};
use super::{SensorStore, StoreError};
use crate::device::SensorInfo;
use crate::reading::{Reading, SensorId};
use crate::span::Span;

/// Readings and sensors in PostgreSQL, in tables of one schema.
///
/// - `readings (sensor_id, ts, temperature, cpu)`, primary key `(sensor_id, ts)`: a
///   TimescaleDB hypertable when the extension is installed (or can be).
/// - Batches are inserted with one `INSERT ... SELECT FROM UNNEST(...) ON CONFLICT DO
///   NOTHING` statement: one round trip per batch, idempotent, atomic.
/// - Statistics are computed in SQL with the best [`BucketFunction`] of the server.
///
/// ```no_run
/// # async fn example() -> Result<(), sensor_log::store::StoreError> {
/// use sensor_log::store::PostgresStore;
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test", "sensor_log").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: String,
    bucket_function: BucketFunction,
    stats_sql: String,
}

/// Connections per store.
const POOL_SIZE: u32 = 8;

impl PostgresStore {
    /// Connects, creates the schema and tables if missing, and detects TimescaleDB.
    pub async fn connect(database_url: &str, schema: &str) -> Result<Self, StoreError> {
        if !schema::valid_schema(schema) {
            return Err(StoreError::InvalidSchema(schema.to_owned()));
        }
        let search_path = format!("SET search_path TO {schema}, public");
        // The session settings of the event store's pools: statement timeout, idle
        // transaction timeout, TCP keepalive.
        let options = cqrs_postgres::PoolConfig::default()
            .connect_options(database_url)
            .map_err(|source| {
                let source = sqlx::Error::Configuration(Box::new(source));
                StoreError::from_driver("reading the PostgreSQL URL", source)
            })?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                let search_path = search_path.clone();
                Box::pin(async move { conn.execute(search_path.as_str()).await.map(|_| ()) })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::from_driver("connecting to PostgreSQL", source))?;
        let bucket_function = schema::migrate(&pool, schema).await?;
        Ok(Self {
            pool,
            schema: schema.to_owned(),
            bucket_function,
            stats_sql: include_str!("sql/stats.sql").replace("{bucket}", bucket_function.sql()),
        })
    }

    /// Uses `function` for stats instead of the detected one (to compare them in tests).
    pub fn with_bucket_function(mut self, function: BucketFunction) -> Self {
        self.bucket_function = function;
        self.stats_sql = include_str!("sql/stats.sql").replace("{bucket}", function.sql());
        self
    }

    /// The bucket function in use.
    pub fn bucket_function(&self) -> BucketFunction {
        self.bucket_function
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn failed(&self, operation: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
        let operation = format!("{} (schema `{}`)", operation.into(), self.schema);
        move |source| StoreError::from_driver(operation, source)
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn summary(row: &PgRow, prefix: &str) -> Result<Summary, sqlx::Error> {
    Ok(Summary {
        avg: row.try_get(format!("{prefix}_avg").as_str())?,
        min: row.try_get(format!("{prefix}_min").as_str())?,
        max: row.try_get(format!("{prefix}_max").as_str())?,
    })
}

#[async_trait]
impl SensorStore for PostgresStore {
    async fn insert_readings(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        if readings.is_empty() {
            return Ok(0);
        }
        let mut sorted: Vec<&Reading> = readings.iter().collect();
        sorted.sort_by_key(|r| (r.sensor_id, r.ts));
        let sensor_ids: Vec<i64> = sorted.iter().map(|r| r.sensor_id).collect();
        let timestamps: Vec<DateTime<Utc>> = sorted.iter().map(|r| r.ts).collect();
        let temperatures: Vec<f64> = sorted.iter().map(|r| r.temperature).collect();
        let cpus: Vec<f64> = sorted.iter().map(|r| r.cpu).collect();
        let done = sqlx::query(include_str!("sql/insert_readings.sql"))
            .bind(sensor_ids)
            .bind(timestamps)
            .bind(temperatures)
            .bind(cpus)
            .execute(&self.pool)
            .await
            .map_err(self.failed(format!("inserting {} readings", readings.len())))?;
        Ok(done.rows_affected())
    }

    async fn upsert_sensor(&self, sensor: &SensorInfo) -> Result<(), StoreError> {
        sqlx::query(include_str!("sql/upsert_sensor.sql"))
            .bind(sensor.id)
            .bind(sensor.kind.as_deref())
            .bind(sensor.location.as_deref())
            .execute(&self.pool)
            .await
            .map_err(self.failed(format!("storing the metadata of sensor {}", sensor.id)))?;
        Ok(())
    }

    async fn sensors(
        &self,
        after: Option<SensorId>,
        limit_: usize,
    ) -> Result<Vec<SensorInfo>, StoreError> {
        let rows = sqlx::query(include_str!("sql/sensors.sql"))
            .bind(after.unwrap_or(0))
            .bind(limit(limit_))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("listing sensors"))?;
        rows.iter()
            .map(|row| {
                Ok(SensorInfo {
                    id: row.try_get("id")?,
                    kind: row.try_get("type")?,
                    location: row.try_get("location")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.failed("reading the sensor list"))
    }

    async fn readings(
        &self,
        sensor: SensorId,
        range: TimeRange,
        after: Option<DateTime<Utc>>,
        limit_: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        let rows = sqlx::query(include_str!("sql/readings.sql"))
            .bind(sensor)
            .bind(range.from)
            .bind(range.to)
            .bind(after)
            .bind(limit(limit_))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed(format!("reading the readings of sensor {sensor}")))?;
        rows.iter()
            .map(|row| {
                Ok(Reading {
                    sensor_id: row.try_get("sensor_id")?,
                    ts: row.try_get("ts")?,
                    temperature: row.try_get("temperature")?,
                    cpu: row.try_get("cpu")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.failed(format!("decoding the readings of sensor {sensor}")))
    }

    async fn stats(
        &self,
        sensor: SensorId,
        range: TimeRange,
        bucket: Span,
        max_buckets: usize,
    ) -> Result<Vec<BucketStats>, StoreError> {
        let rows = sqlx::query(&self.stats_sql)
            .bind(sensor)
            .bind(range.from)
            .bind(range.to)
            .bind(bucket.seconds() as f64)
            .bind(limit(max_buckets))
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed(format!("computing the stats of sensor {sensor}")))?;
        rows.iter()
            .map(|row| {
                Ok(BucketStats {
                    bucket_start: row.try_get("bucket_start")?,
                    count: row.try_get("count")?,
                    temperature: summary(row, "temperature")?,
                    cpu: summary(row, "cpu")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.failed(format!("decoding the stats of sensor {sensor}")))
    }

    async fn latest(&self, window: Span) -> Result<Vec<LatestReading>, StoreError> {
        let rows = sqlx::query(include_str!("sql/latest.sql"))
            .bind(window.seconds() as f64)
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("reading the latest readings"))?;
        rows.iter()
            .map(|row| {
                Ok(LatestReading {
                    sensor_id: row.try_get("sensor_id")?,
                    ts: row.try_get("ts")?,
                    temperature: row.try_get("temperature")?,
                    cpu: row.try_get("cpu")?,
                    average: WindowAverage {
                        window: window.to_string(),
                        count: row.try_get("count")?,
                        temperature: row.try_get("temperature_avg")?,
                        cpu: row.try_get("cpu_avg")?,
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.failed("decoding the latest readings"))
    }

    async fn count_readings(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(include_str!("sql/count.sql"))
            .fetch_one(&self.pool)
            .await
            .map_err(self.failed("counting readings"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(include_str!("sql/ping.sql"))
            .execute(&self.pool)
            .await
            .map_err(self.failed("checking that PostgreSQL answers"))?;
        Ok(())
    }
}
