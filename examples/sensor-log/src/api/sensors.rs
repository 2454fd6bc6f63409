//! `GET /sensors` and `GET /sensors/latest`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;

use super::error::ApiError;
use super::params::Params;
use super::AppState;
use crate::cursor::SensorsCursor;
use crate::device::SensorInfo;
use crate::queries::Page;
use crate::span::Span;
use crate::store::LatestReading;

/// Default and largest page size of `GET /sensors`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

/// `GET /sensors?limit=&cursor=`: sensors by id, paged.
pub(super) async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Page<SensorInfo>>, ApiError> {
    let params = Params::new(query, &["limit", "cursor"])?;
    let limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = params
        .text("cursor")
        .map(SensorsCursor::decode)
        .transpose()
        .map_err(|e| ApiError::invalid("cursor", e.to_string()))?;
    Ok(Json(state.queries.sensors(cursor, limit).await?))
}

/// `GET /sensors/latest?window=1h`: every sensor's latest reading and its averages over
/// the window ending at it.
pub(super) async fn latest(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Vec<LatestReading>>, ApiError> {
    let params = Params::new(query, &["window"])?;
    let window = params.span("window", Span::ONE_HOUR)?;
    Ok(Json(state.queries.latest(window).await?))
}
