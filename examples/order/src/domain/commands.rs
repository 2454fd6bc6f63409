//! What can be asked of an order.

use cqrs_core::Command;
use serde::{Deserialize, Serialize};

use super::events::OrderLine;

/// Commands of the `Order` aggregate; each names its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderCommand {
    /// Place a new order. Placing the same order again (same customer and lines) is
    /// idempotent; placing a different order under an existing id is refused.
    PlaceOrder {
        /// New order id.
        order_id: String,
        /// Customer id.
        customer_id: String,
        /// 1..=100 lines.
        items: Vec<OrderLine>,
    },
    /// Pay the order's total.
    PayOrder {
        /// Order id.
        order_id: String,
    },
    /// Cancel the order.
    CancelOrder {
        /// Order id.
        order_id: String,
        /// Why (e.g. `out_of_stock`).
        reason: String,
    },
    /// Ship a paid order.
    ShipOrder {
        /// Order id.
        order_id: String,
    },
    /// Mark the order's stock reserved (sent by the inventory service).
    ConfirmOrder {
        /// Order id.
        order_id: String,
    },
}

impl Command for OrderCommand {
    fn aggregate_id(&self) -> &str {
        match self {
            OrderCommand::PlaceOrder { order_id, .. }
            | OrderCommand::PayOrder { order_id }
            | OrderCommand::CancelOrder { order_id, .. }
            | OrderCommand::ShipOrder { order_id }
            | OrderCommand::ConfirmOrder { order_id } => order_id,
        }
    }
}
