//! The HTTP handlers: commands and queries.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

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
    /// Types of the recorded events (empty for an idempotent repeat).
    events: Vec<String>,
    /// Global position of the last event: the read model reflects the command once it
    /// reaches this position.
    position: Option<u64>,
}

/// An id in the path: 400 when it breaks the limits (it names no resource that can exist).
fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    limits::check_id(field, id).map_err(|e| ApiError::invalid(e.field, e.reason))
}

async fn run(
    state: &AppState,
    command: OrderCommand,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    let order_id = cqrs_core::Command::aggregate_id(&command).to_owned();
    let committed = state.orders.execute(command).await?;
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
            position: committed.last_position(),
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
    ValidJson(body): ValidJson<PlaceOrderBody>,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    limits::check_place(&body.order_id, &body.customer_id, &body.items)?;
    run(
        &state,
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
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    check_id("order_id", &order_id)?;
    run(&state, OrderCommand::PayOrder { order_id }).await
}

/// `POST /orders/{id}/ship`
pub async fn ship(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    check_id("order_id", &order_id)?;
    run(&state, OrderCommand::ShipOrder { order_id }).await
}

/// `POST /orders/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    ValidJson(body): ValidJson<CancelBody>,
) -> Result<(StatusCode, Json<CommandReply>), ApiError> {
    check_id("order_id", &order_id)?;
    limits::check_reason(&body.reason)?;
    run(
        &state,
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

/// `GET /orders/{id}`
pub async fn get_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    check_id("order_id", &order_id)?;
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

/// `GET /customers/{id}/items?tier=cheap|affordable|expensive`
pub async fn customer_items(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TierGroup>>, ApiError> {
    check_id("customer_id", &customer_id)?;
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "tier") {
        return Err(ApiError::invalid(
            unknown.clone(),
            "unknown query parameter",
        ));
    }
    let tier = match params.get("tier") {
        Some(t) => Some(
            t.parse::<Tier>()
                .map_err(|e| ApiError::invalid("tier", e))?,
        ),
        None => None,
    };
    let groups = state.tiers.items(&customer_id, tier).await.map_err(|e| {
        tracing::warn!(error = %e, "price-tier query failed");
        ApiError::unavailable()
    })?;
    Ok(Json(groups))
}
