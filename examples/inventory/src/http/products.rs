//! Product and stock endpoints.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use cqrs_core::Committed;
use serde_json::{json, Value};
use service_kit::idempotency::command_context;
use service_kit::read_your_writes::{min_position, reply_position, MIN_POSITION_PARAM};

use super::input::{parse_body, Fields};
use super::{ApiError, ApiState};
use crate::domain::{
    validate_name, validate_sku, ProductCommand, ProductEvent, ReleaseOutcome, MAX_ON_HAND,
    MAX_RECEIPT,
};
use crate::views::StockLevel;

/// Checks a sku taken from the path.
pub(super) fn path_sku(sku: &str) -> Result<(), ApiError> {
    validate_sku(sku).map_err(|message| ApiError::field("sku", message))
}

/// Runs a product command under the request's `Idempotency-Key`, if it has one (a repeat
/// of the key gets the first execution's outcome: its events again, or its recorded
/// refusal, answered like the first); returns what it committed and the position a query's
/// `min_position` waits for to see it ([`reply_position`]).
async fn run(
    state: &ApiState,
    headers: &HeaderMap,
    command: ProductCommand,
) -> Result<(Committed<ProductEvent>, Option<u64>), ApiError> {
    let context = command_context(headers)?;
    let committed = state.inventory.product_command(&context, command).await?;
    let position = reply_position(&committed, &**state.inventory.store())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok((committed, position))
}

/// `POST /products {"sku", "name"}`: 201 when registered, 200 when it already was (same
/// name), 409 when the sku is registered under another name.
pub(super) async fn register(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = parse_body(&body)?;
    let fields = Fields::of_body(&body)?;
    fields.only(&["sku", "name"])?;
    let sku = fields.string("sku", validate_sku)?;
    let name = fields.string("name", validate_name)?;
    let command = ProductCommand::RegisterProduct {
        sku: sku.clone(),
        name: name.clone(),
    };
    let (committed, position) = run(&state, &headers, command).await?;
    let created = !committed.events.is_empty();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "sku": sku, "name": name, "created": created, "position": position })),
    ))
}

/// `POST /products/{sku}/stock {"qty"}`: adds stock on hand.
pub(super) async fn receive_stock(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    path_sku(&sku)?;
    let body = parse_body(&body)?;
    let fields = Fields::of_body(&body)?;
    fields.only(&["qty"])?;
    let qty = fields.integer("qty", 1..=MAX_RECEIPT)?;
    let command = ProductCommand::ReceiveStock {
        sku: sku.clone(),
        qty,
    };
    let (committed, position) = run(&state, &headers, command).await?;
    Ok(Json(json!({
        "sku": sku,
        "received": qty,
        "version": committed.version,
        "position": position,
    })))
}

/// `GET /products/{sku}[?min_position=N]`: the stock level from the read model, once it
/// has processed position `N` (waiting boundedly for it).
pub(super) async fn get(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<StockLevel>, ApiError> {
    path_sku(&sku)?;
    let wanted = min_position(&headers, query.as_deref())?;
    state
        .read_your_writes
        .wait(&state.stock_position, wanted)
        .await?;
    state
        .inventory
        .stock_level(&sku)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("product `{sku}` is not registered")))
}

/// `DELETE /products/{sku}/reservations/{order_id}`: releases the order's reservation;
/// answers `{"outcome": "released", "qty", "position"}` or
/// `{"outcome": "not_reserved", "position"}`.
pub(super) async fn release(
    State(state): State<ApiState>,
    Path((sku, order_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    path_sku(&sku)?;
    validate_sku(&order_id).map_err(|message| ApiError::field("order_id", message))?;
    let command = ProductCommand::ReleaseReservation { sku, order_id };
    let (committed, position) = run(&state, &headers, command).await?;
    let mut reply = json!(ReleaseOutcome::of(&committed.events));
    reply["position"] = json!(position);
    Ok(Json(reply))
}

/// `GET /stock/low?threshold=N[&min_position=P]`: products with fewer than N available
/// units (default: the server's `--low-stock-threshold`), once the read model has
/// processed position `P` (waiting boundedly for it).
pub(super) async fn low_stock(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|k| k.as_str() != "threshold" && k.as_str() != MIN_POSITION_PARAM)
    {
        return Err(ApiError::field(
            unknown.clone(),
            "unknown query parameter; expected `threshold` or `min_position`",
        ));
    }
    let wanted = min_position(&headers, raw_query.as_deref())?;
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
    state
        .read_your_writes
        .wait(&state.stock_position, wanted)
        .await?;
    let products = state.inventory.low_stock(threshold).await?;
    Ok(Json(
        json!({ "threshold": threshold, "products": products }),
    ))
}
