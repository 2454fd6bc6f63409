//! `GET /sensors/{id}/readings` and `GET /sensors/{id}/stats`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;

use super::error::ApiError;
use super::params::{shown, Params};
use super::AppState;
use crate::cursor::ReadingsCursor;
use crate::queries::{Page, SensorStats};
use crate::reading::{Reading, SensorId};
use crate::span::Span;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// `GET /sensors/{id}/readings?from=&to=&limit=&cursor=`: readings oldest first, paged
/// by keyset on the timestamp.
pub(super) async fn readings(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Page<Reading>>, ApiError> {
    let sensor = sensor_id(id)?;
    let params = Params::new(query, &["from", "to", "limit", "cursor"])?;
    let range = params.range()?;
    let limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = params
        .text("cursor")
        .map(|text| ReadingsCursor::decode(text, sensor))
        .transpose()
        .map_err(|e| ApiError::invalid("cursor", e.to_string()))?;
    Ok(Json(
        state.queries.readings(sensor, range, cursor, limit).await?,
    ))
}

/// `GET /sensors/{id}/stats?from=&to=&bucket=30m`: avg/min/max per time bucket.
pub(super) async fn stats(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SensorStats>, ApiError> {
    let sensor = sensor_id(id)?;
    let params = Params::new(query, &["from", "to", "bucket"])?;
    let range = params.range()?;
    let bucket = params.span("bucket", Span::THIRTY_MINUTES)?;
    Ok(Json(state.queries.stats(sensor, range, bucket).await?))
}

fn sensor_id(id: Result<Path<String>, PathRejection>) -> Result<SensorId, ApiError> {
    let Path(text) = id.map_err(|e| ApiError::invalid("id", e.body_text()))?;
    match text.parse::<SensorId>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::invalid(
            "id",
            format!(
                "`{}` is not a sensor id (an integer in 1..={})",
                shown(&text),
                SensorId::MAX
            ),
        )),
    }
}
