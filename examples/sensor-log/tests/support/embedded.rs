//! The embedded-mode app on an in-memory store, and device readings to feed it.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use sensor_log::api::{router, AppState};
use sensor_log::ingest::Ingestor;
use sensor_log::queries::SensorQueries;
use sensor_log::store::{MemoryStore, SensorStore};
use serde_json::{json, Value};

use super::post;

/// 2022-03-04T16:00:00Z.
pub const T0: i64 = 1_646_409_600;

/// The embedded-mode router on a fresh in-memory store.
pub fn embedded() -> Router {
    let store: Arc<dyn SensorStore> = Arc::new(MemoryStore::default());
    router(AppState {
        queries: SensorQueries::new(store.clone()),
        ingestor: Some(Ingestor::new(store)),
    })
}

/// One device reading as the ingest endpoint takes it.
pub fn reading(sensor: i64, ts: i64, temperature: f64, cpu: f64) -> Value {
    json!({"ts": ts, "sensor_id": sensor, "temperature": temperature, "cpu": cpu})
}

/// Sensor 1: one reading a minute for an hour: temperature = minute - 10, cpu = minute.
pub async fn feed_an_hour(app: &Router) {
    let batch: Vec<Value> = (0..60)
        .map(|m| reading(1, T0 + m * 60, (m - 10) as f64, m as f64))
        .collect();
    let (status, body) = post(app, "/ingest/readings", Value::from(batch).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"received": 60, "stored": 60}));
}
