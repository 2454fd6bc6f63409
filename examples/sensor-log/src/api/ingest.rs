//! Embedded mode's stand-in for the Kafka topics: `POST /ingest/readings` and
//! `POST /ingest/sensors` take exactly what devices publish, in-process.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::AppState;
use crate::device::SensorInfo;

/// What `POST /ingest/readings` stored.
#[derive(Debug, Serialize)]
pub(super) struct Stored {
    received: usize,
    stored: u64,
}

/// `POST /ingest/readings` with a device message (JSON array): 200 once the readings are
/// stored; 400 naming the offending field otherwise (nothing of the message is stored).
pub(super) async fn readings(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Stored>), ApiError> {
    let ingestor = state
        .ingestor
        .as_ref()
        .ok_or_else(|| ApiError::not_found("ingest is off"))?;
    let ingested = ingestor.readings(&body).await?;
    Ok((
        StatusCode::OK,
        Json(Stored {
            received: ingested.received,
            stored: ingested.stored,
        }),
    ))
}

/// `POST /ingest/sensors` with a sensor metadata message (JSON object).
pub(super) async fn sensors(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<SensorInfo>, ApiError> {
    let ingestor = state
        .ingestor
        .as_ref()
        .ok_or_else(|| ApiError::not_found("ingest is off"))?;
    Ok(Json(ingestor.sensor(&body).await?))
}
