//! Product and stock endpoints.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::input::{parse_body, Fields};
use super::{ApiError, ApiState};
use crate::domain::{validate_name, validate_sku, ReleaseOutcome, MAX_ON_HAND, MAX_RECEIPT};
use crate::views::StockLevel;

/// Checks a sku taken from the path.
pub(super) fn path_sku(sku: &str) -> Result<(), ApiError> {
    validate_sku(sku).map_err(|message| ApiError::field("sku", message))
}

/// `POST /products {"sku", "name"}`: 201 when registered, 200 when it already was (same
/// name), 409 when the sku is registered under another name.
pub(super) async fn register(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = parse_body(&body)?;
    let fields = Fields::of_body(&body)?;
    fields.only(&["sku", "name"])?;
    let sku = fields.string("sku", validate_sku)?;
    let name = fields.string("name", validate_name)?;
    let created = state.inventory.register_product(&sku, &name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "sku": sku, "name": name, "created": created })),
    ))
}

/// `POST /products/{sku}/stock {"qty"}`: adds stock on hand.
pub(super) async fn receive_stock(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    path_sku(&sku)?;
    let body = parse_body(&body)?;
    let fields = Fields::of_body(&body)?;
    fields.only(&["qty"])?;
    let qty = fields.integer("qty", 1..=MAX_RECEIPT)?;
    let committed = state.inventory.receive_stock(&sku, qty).await?;
    Ok(Json(
        json!({ "sku": sku, "received": qty, "version": committed.version }),
    ))
}

/// `GET /products/{sku}`: the stock level from the read model.
pub(super) async fn get(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
) -> Result<Json<StockLevel>, ApiError> {
    path_sku(&sku)?;
    state
        .inventory
        .stock_level(&sku)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("product `{sku}` is not registered")))
}

/// `DELETE /products/{sku}/reservations/{order_id}`: releases the order's reservation;
/// answers `{"outcome": "released", "qty"}` or `{"outcome": "not_reserved"}`.
pub(super) async fn release(
    State(state): State<ApiState>,
    Path((sku, order_id)): Path<(String, String)>,
) -> Result<Json<ReleaseOutcome>, ApiError> {
    path_sku(&sku)?;
    validate_sku(&order_id).map_err(|message| ApiError::field("order_id", message))?;
    Ok(Json(
        state.inventory.release_reservation(&sku, &order_id).await?,
    ))
}

/// `GET /stock/low?threshold=N`: products with fewer than N available units (default:
/// the server's `--low-stock-threshold`).
pub(super) async fn low_stock(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = query.keys().find(|k| k.as_str() != "threshold") {
        return Err(ApiError::field(
            unknown.clone(),
            "unknown query parameter; expected `threshold`",
        ));
    }
    let threshold = match query.get("threshold") {
        None => state.low_stock_threshold,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|t| *t <= MAX_ON_HAND)
            .ok_or_else(|| {
                ApiError::field(
                    "threshold",
                    format!("must be an integer from 0 to {MAX_ON_HAND}, got `{text}`"),
                )
            })?,
    };
    let products = state.inventory.low_stock(threshold).await?;
    Ok(Json(
        json!({ "threshold": threshold, "products": products }),
    ))
}
