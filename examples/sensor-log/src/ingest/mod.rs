//! The writer job: device messages in, validated readings stored.
//!
//! [`Ingestor`] is the one path every message takes, whatever delivered it: the Kafka
//! consumer of services mode ([`kafka`]) or the HTTP endpoints standing in for the topics
//! in embedded mode ([`crate::api`]). It validates a whole message, then stores all its
//! readings in one batch (one statement in PostgreSQL), and reports success only once
//! they are durable. The Kafka writer validates many messages ([`Ingestor::validate`])
//! and stores all their readings with one statement ([`Ingestor::store`]).

pub mod kafka;
mod topics;

use std::sync::Arc;

pub use topics::Topics;

use crate::device::{decode_readings, decode_sensor, Limits, Rejection, SensorInfo};
use crate::reading::Reading;
use crate::store::{SensorStore, StoreError};

/// Why a message was not ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The message is malformed; it will never be accepted (dead-letter it).
    #[error("message rejected: {0}")]
    Rejected(#[from] Rejection),
    /// The store failed; nothing was stored, try again later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What storing a readings message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Readings in the message.
    pub received: usize,
    /// Readings newly stored (the rest were already stored: redelivery).
    pub stored: u64,
}

/// Validates device messages and stores them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use sensor_log::{ingest::Ingestor, store::MemoryStore};
/// let ingestor = Ingestor::new(Arc::new(MemoryStore::default()));
/// let raw = br#"[{"ts": 1646409307, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
/// assert_eq!(ingestor.readings(raw).await.unwrap().stored, 1);
/// assert!(ingestor.readings(b"[{]").await.is_err());
/// # }
/// ```
#[derive(Clone)]
pub struct Ingestor {
    store: Arc<dyn SensorStore>,
    limits: Limits,
}

impl Ingestor {
    /// Stores into `store` with the default [`Limits`].
    pub fn new(store: Arc<dyn SensorStore>) -> Self {
        Self {
            store,
            limits: Limits::default(),
        }
    }

    /// Uses `limits` instead.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits messages are validated against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates a `logger.sensor.ts` message and stores its readings, all or nothing.
    pub async fn readings(&self, raw: &[u8]) -> Result<Ingested, IngestError> {
        let readings = self.validate(raw)?;
        let stored = self.store(&readings).await?;
        Ok(Ingested {
            received: readings.len(),
            stored,
        })
    }

    /// Validates a `logger.sensor.ts` message without storing it: its readings, or why
    /// the whole message is refused.
    pub fn validate(&self, raw: &[u8]) -> Result<Vec<Reading>, Rejection> {
        decode_readings(raw, &self.limits)
    }

    /// Stores validated readings (of any number of messages) in one batch, all or
    /// nothing, idempotently on `(sensor_id, ts)`; returns how many were new.
    pub async fn store(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        self.store.insert_readings(readings).await
    }

    /// Validates a `logger.sensor.instance` message and stores the sensor's metadata.
    pub async fn sensor(&self, raw: &[u8]) -> Result<SensorInfo, IngestError> {
        let sensor = decode_sensor(raw, &self.limits)?;
        self.store.upsert_sensor(&sensor).await?;
        Ok(sensor)
    }
}
