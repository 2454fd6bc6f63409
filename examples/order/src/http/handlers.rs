//! The HTTP handlers: commands and queries.

use std::collections::HashMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use service_kit::idempotency::command_context;
use service_kit::read_your_writes::{min_position, reply_position, MIN_POSITION_PARAM};

use super::error::ApiError;
use super::json::ValidJson;
use super::AppState;
use crate::domain::limits;
use crate::domain::{line_total, Cents, OrderCommand, OrderLine, OrderStatus, Tier};
use crate::views::TierGroup;

/// Body of `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    order_id: String,
    customer_id: String,
    items: Vec<OrderLine>,
}

/// Body of `POST /orders/{id}/cancel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    reason: String,
}

/// What a command committed.
#[derive(Debug, Serialize)]
pub struct CommandReply {
    order_id: String,
    /// The order stream's version after the command.
    version: u64,
    /// Types of the recorded events (empty when the command changed nothing, e.g. the
    /// same order placed again).
    events: Vec<String>,
    /// Global position of the command's last event, or, when it changed nothing, of the
    /// order's last event: a query given `?min_position=` this answers with the command's
    /// effect. `null` only for an order that does not exist (never: such commands are
    /// refused).
    position: Option<u64>,
}

/// An id in the path: 400 when it breaks the limits (it names no resource that can exist).
fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    limits::check_id(field, id).map_err(|e| ApiError::invalid(e.field, e.reason))
}

/// Runs `command` under the request's `Idempotency-Key`, if it has one: a repeat of the
/// key gets the first execution's status and body (its events are replayed, a refusal is
/// answered from its recorded code).
async fn run(
    state: &AppState,
    headers: &HeaderMap,
    command: OrderCommand,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    let order_id = cqrs_core::Command::aggregate_id(&command).to_owned();
    let context = command_context(headers)?;
    let committed = state.orders.execute_in(&context, command).await?;
    let position = reply_position(&committed, &**state.orders.store())
        .await
        .map_err(|e| ApiError::from_store(&e))?;
    let status = if committed.events.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(CommandReply {
            order_id,
            version: committed.version,
            position,
            events: committed
                .recorded
                .iter()
                .map(|e| e.event_type.to_string())
                .collect(),
        }),
    ))
}

/// `POST /orders`
pub async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<PlaceOrderBody>,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    limits::check_place(&body.order_id, &body.customer_id, &body.items)?;
    run(
        &state,
        &headers,
        OrderCommand::PlaceOrder {
            order_id: body.order_id,
            customer_id: body.customer_id,
            items: body.items,
        },
    )
    .await
}

/// `POST /orders/{id}/pay`
pub async fn pay(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    check_id("order_id", &order_id)?;
    run(&state, &headers, OrderCommand::PayOrder { order_id }).await
}

/// `POST /orders/{id}/ship`
pub async fn ship(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    check_id("order_id", &order_id)?;
    run(&state, &headers, OrderCommand::ShipOrder { order_id }).await
}

/// `POST /orders/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<CancelBody>,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    check_id("order_id", &order_id)?;
    limits::check_reason(&body.reason)?;
    run(
        &state,
        &headers,
        OrderCommand::CancelOrder {
            order_id,
            reason: body.reason,
        },
    )
    .await
}

/// Reply of `GET /orders/{id}`.
#[derive(Debug, Serialize)]
pub struct OrderView {
    order_id: String,
    customer_id: String,
    status: OrderStatus,
    /// True once the inventory confirmed the order's stock.
    confirmed: bool,
    /// Why it was cancelled (e.g. `out_of_stock`); `null` unless cancelled.
    cancel_reason: Option<String>,
    lines: Vec<LineView>,
    /// Sum of the line totals, minor units; `null` if it overflows (only an order recorded
    /// before the price limits existed can).
    total: Option<Cents>,
    version: u64,
}

/// A line with its total.
#[derive(Debug, Serialize)]
pub struct LineView {
    #[serde(flatten)]
    line: OrderLine,
    /// unit_price x quantity, minor units; `null` if it overflows.
    line_total: Option<Cents>,
}

/// `GET /orders/{id}[?min_position=N]`: read from the order's stream, so it reflects every
/// committed event; `min_position` waits (boundedly) for the store's log to reach `N`.
pub async fn get_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<OrderView>, ApiError> {
    check_id("order_id", &order_id)?;
    if let Some(unknown) = unknown_param(&params, &[]) {
        return Err(ApiError::invalid(unknown, "unknown query parameter"));
    }
    let wanted = min_position(&headers, query.as_deref())?;
    state
        .read_your_writes
        .wait(&state.orders_position, wanted)
        .await?;
    let loaded = state
        .orders
        .load(&order_id)
        .await
        .map_err(ApiError::from_load)?;
    if loaded.version == 0 {
        return Err(ApiError::not_found(format!(
            "order {order_id} does not exist"
        )));
    }
    let order = loaded.state;
    Ok(Json(OrderView {
        total: order.total(),
        order_id: order.order_id,
        customer_id: order.customer_id,
        status: order.status,
        confirmed: order.confirmed,
        cancel_reason: order.cancel_reason,
        lines: order
            .lines
            .into_iter()
            .map(|line| LineView {
                line_total: line_total(&line),
                line,
            })
            .collect(),
        version: loaded.version,
    }))
}

/// `GET /customers/{id}/items?tier=cheap|affordable|expensive[&min_position=N]`: from the
/// price-tier view, once it has processed position `N` (waiting boundedly for it).
pub async fn customer_items(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TierGroup>>, ApiError> {
    check_id("customer_id", &customer_id)?;
    if let Some(unknown) = unknown_param(&params, &["tier"]) {
        return Err(ApiError::invalid(unknown, "unknown query parameter"));
    }
    let wanted = min_position(&headers, query.as_deref())?;
    let tier = match params.get("tier") {
        Some(t) => Some(
            t.parse::<Tier>()
                .map_err(|e| ApiError::invalid("tier", e))?,
        ),
        None => None,
    };
    state
        .read_your_writes
        .wait(&state.tiers_position, wanted)
        .await?;
    let groups = state.tiers.items(&customer_id, tier).await.map_err(|e| {
        tracing::warn!(error = %e, "price-tier query failed");
        ApiError::unavailable()
    })?;
    Ok(Json(groups))
}

/// The first query parameter that is neither in `known` nor `min_position`.
fn unknown_param(params: &HashMap<String, String>, known: &[&str]) -> Option<String> {
    params
        .keys()
        .find(|key| key.as_str() != MIN_POSITION_PARAM && !known.contains(&key.as_str()))
        .cloned()
}
