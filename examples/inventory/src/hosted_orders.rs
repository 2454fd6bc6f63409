//! The order service hosted in the inventory's process (embedded mode): placing, cancelling
//! and reading orders next to the inventory's decision about them.

use cqrs_core::{CommandError, Committed, EventStore, LoadError, Repository};
use order::domain::{Cents, Order, OrderCommand, OrderError, OrderEvent, OrderLine, OrderStatus};
use serde::Serialize;

use crate::domain::OrderAllocation;

/// An order as the inventory API reports it: the order's own state and the inventory's
/// decision about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderReport {
    /// Order id.
    pub order_id: String,
    /// Customer id.
    pub customer_id: String,
    /// The order's status (placed, paid, shipped, cancelled).
    pub status: OrderStatus,
    /// Why it was cancelled (e.g. `out_of_stock`), if it was.
    pub cancel_reason: Option<String>,
    /// Its lines.
    pub lines: Vec<OrderLine>,
    /// Sum of the lines, in minor units; `None` (`null`) if it overflows `u64` (only an
    /// order recorded before the order limits existed can).
    pub total: Option<Cents>,
    /// The inventory's decision (pending until the saga has run).
    pub allocation: OrderAllocation,
}

/// The `Order` aggregate run in the inventory's process. Cheap to clone.
///
/// In services mode orders belong to the order service, and the inventory has none of this
/// (see [`Inventory::hosted_orders`](crate::Inventory::hosted_orders)).
#[derive(Clone)]
pub struct HostedOrders {
    orders: Repository<Order, dyn EventStore>,
    allocations: Repository<OrderAllocation, dyn EventStore>,
}

impl HostedOrders {
    pub(crate) fn new(
        orders: Repository<Order, dyn EventStore>,
        allocations: Repository<OrderAllocation, dyn EventStore>,
    ) -> Self {
        Self {
            orders,
            allocations,
        }
    }

    /// Places an order through the `Order` aggregate; the saga reacts to it.
    pub async fn place_order(
        &self,
        order_id: &str,
        customer_id: &str,
        items: Vec<OrderLine>,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        let command = OrderCommand::PlaceOrder {
            order_id: order_id.to_owned(),
            customer_id: customer_id.to_owned(),
            items,
        };
        self.orders.execute(command).await
    }

    /// Cancels an order; the saga releases its stock if it was confirmed.
    pub async fn cancel_order(
        &self,
        order_id: &str,
        reason: &str,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        let command = OrderCommand::CancelOrder {
            order_id: order_id.to_owned(),
            reason: reason.to_owned(),
        };
        self.orders.execute(command).await
    }

    /// Runs any order command (pay, ship, ...); the saga reacts to what it records.
    pub async fn order_command(
        &self,
        command: OrderCommand,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        self.orders.execute(command).await
    }

    /// The order and the inventory's decision about it; `None` if it was never placed.
    ///
    /// Read from the order's stream (not a read model), so it is always current.
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderReport>, LoadError> {
        let loaded = self.orders.load(order_id).await?;
        if loaded.version == 0 {
            return Ok(None);
        }
        let order = loaded.state;
        let allocation = self.allocations.load(order_id).await?.state;
        Ok(Some(OrderReport {
            total: order.total(),
            order_id: order.order_id,
            customer_id: order.customer_id,
            status: order.status,
            cancel_reason: order.cancel_reason,
            lines: order.lines,
            allocation,
        }))
    }
}
