//! Order endpoints. `GET /orders/{id}/allocation` (the inventory's decision) is served in
//! both modes; placing, cancelling and reading orders only in embedded mode, where the order
//! service is hosted in this process (in services mode they are the order service's API).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use order::domain::{
    check_lines, Cents, OrderLine, MAX_ID_LEN, MAX_LABEL_LEN, MAX_LINES, MAX_QUANTITY,
    MAX_REASON_LEN, MAX_UNIT_PRICE,
};
use serde_json::json;

use super::input::{parse_body, text, Fields};
use super::{ApiError, ApiState};
use crate::domain::{validate_sku, OrderAllocation};
use crate::hosted_orders::{HostedOrders, OrderReport};

/// The hosted order service; the routes that need it are mounted only when there is one.
fn hosted(state: &ApiState) -> Result<&HostedOrders, ApiError> {
    state
        .inventory
        .hosted_orders()
        .ok_or_else(|| ApiError::NotFound("orders are served by the order service".into()))
}

fn order_id_check(id: &str) -> Result<(), String> {
    validate_sku(id)
}

fn read_line(line: &Fields<'_>) -> Result<OrderLine, ApiError> {
    line.only(&["sku", "label", "unit_price", "quantity"])?;
    let quantity = line.integer("quantity", 1..=u64::from(MAX_QUANTITY))?;
    Ok(OrderLine {
        sku: line.string("sku", validate_sku)?,
        label: line.string("label", text(MAX_LABEL_LEN))?,
        unit_price: Cents(line.integer("unit_price", 1..=MAX_UNIT_PRICE)?),
        quantity: u32::try_from(quantity)
            .map_err(|_| ApiError::field(line.at("quantity"), "out of range"))?,
    })
}

/// `POST /orders {"order_id"?, "customer_id", "items": [{"sku","label","unit_price","quantity"}]}`:
/// 202 with a `Location` once the order is stored; the saga decides asynchronously
/// (`GET /orders/{id}` shows `allocation.status`). Placing the same order again is
/// idempotent (200); another order under the same id is 409.
pub(super) async fn place(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let fields = Fields::of_body(&body)?;
    fields.only(&["order_id", "customer_id", "items"])?;
    let order_id = fields
        .optional_string("order_id", order_id_check)?
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let customer_id = fields.string("customer_id", text(MAX_ID_LEN))?;
    let items = fields
        .objects("items", 1..=MAX_LINES)?
        .iter()
        .map(read_line)
        .collect::<Result<Vec<_>, _>>()?;
    // The order domain's own limits (the aggregate checks them again).
    check_lines(&items).map_err(|e| ApiError::field(e.field, e.reason))?;
    let committed = hosted(&state)?
        .place_order(&order_id, &customer_id, items)
        .await?;
    let status = if committed.events.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/orders/{order_id}");
    let body = json!({ "order_id": order_id, "status": "placed", "location": location });
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// `GET /orders/{id}`: the order and the inventory's decision.
pub(super) async fn get(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderReport>, ApiError> {
    order_id_check(&order_id).map_err(|message| ApiError::field("order_id", message))?;
    hosted(&state)?
        .order(&order_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("order `{order_id}` does not exist")))
}

/// `POST /orders/{id}/cancel {"reason"?}`: cancels the order; the saga releases its stock.
pub(super) async fn cancel(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    order_id_check(&order_id).map_err(|message| ApiError::field("order_id", message))?;
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body = parse_body(&body)?;
        let fields = Fields::of_body(&body)?;
        fields.only(&["reason"])?;
        fields.optional_string("reason", text(MAX_REASON_LEN))?
    };
    let reason = reason.unwrap_or_else(|| "customer_request".to_owned());
    hosted(&state)?.cancel_order(&order_id, &reason).await?;
    Ok(Json(
        json!({ "order_id": order_id, "status": "cancelled", "reason": reason }),
    ))
}

/// `GET /orders/{id}/allocation`: the inventory's decision about the order (`pending`
/// until the saga has run, then `confirmed` or `rejected` with the shortage).
pub(super) async fn allocation(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderAllocation>, ApiError> {
    order_id_check(&order_id).map_err(|message| ApiError::field("order_id", message))?;
    Ok(Json(state.inventory.allocation(&order_id).await?))
}
