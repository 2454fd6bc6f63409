//! # sensor-log
//!
//! IoT time series on cqrs-rs. Devices publish JSON readings to the Kafka topic
//! `logger.sensor.ts` and their metadata to `logger.sensor.instance`; a writer job
//! ([`ingest`]) validates every message ([`device`]), stores readings in batches,
//! idempotently on `(sensor_id, ts)` ([`store`]), and dead-letters what is malformed;
//! a query service ([`api`]) serves sensors, paged readings, per-bucket statistics and
//! latest values.
//!
//! ## Quickstart (embedded: in-memory, no services)
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use sensor_log::{ingest::Ingestor, queries::SensorQueries, store::{MemoryStore, TimeRange}};
//!
//! let store = Arc::new(MemoryStore::default());
//! let ingestor = Ingestor::new(store.clone());
//! ingestor.readings(br#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20},
//!                         {"ts": 1646409367, "sensor_id": 1, "temperature": 32, "cpu": 40}]"#).await.unwrap();
//!
//! let queries = SensorQueries::new(store);
//! let page = queries.readings(1, TimeRange::default(), None, 1).await.unwrap();
//! assert_eq!(page.items[0].temperature, 30.0);
//! let next = page.next_cursor.as_deref().map(|c| sensor_log::cursor::ReadingsCursor::decode(c, 1).unwrap());
//! let page = queries.readings(1, TimeRange::default(), next, 1).await.unwrap();
//! assert_eq!(page.items[0].temperature, 32.0);
//! # }
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod cursor;
pub mod demo;
pub mod device;
pub mod ingest;
pub mod queries;
pub mod reading;
pub mod span;
pub mod store;
