//! Commands and events of the `OrderAllocation` aggregate.

use cqrs_core::{Command, Event};
use serde::{Deserialize, Serialize};

/// Units of one sku reserved for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatedLine {
    /// Product.
    pub sku: String,
    /// Units reserved (the order's lines for this sku, summed).
    pub qty: u64,
}

/// The line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    /// Product.
    pub sku: String,
    /// Units the order wanted.
    pub requested: u64,
    /// Units that were available (0 for an unknown product).
    pub available: u64,
    /// The product's refusal, for people.
    pub detail: String,
}

/// The saga's decisions and what followed them, addressed by order id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllocationCommand {
    /// Every line is reserved: the order is confirmed.
    Confirm {
        /// The order.
        order_id: String,
        /// What was reserved.
        lines: Vec<AllocatedLine>,
    },
    /// A line could not be reserved: the order is refused.
    Reject {
        /// The order.
        order_id: String,
        /// Why (`out_of_stock`).
        reason: String,
        /// The line that failed.
        shortage: Shortage,
    },
    /// The confirmed order was cancelled and its reservations released.
    Release {
        /// The order.
        order_id: String,
        /// The cancellation reason.
        reason: String,
    },
    /// The confirmed order shipped and its reserved units left the stock.
    MarkShipped {
        /// The order.
        order_id: String,
    },
}

impl Command for AllocationCommand {
    fn aggregate_id(&self) -> &str {
        match self {
            AllocationCommand::Confirm { order_id, .. }
            | AllocationCommand::Reject { order_id, .. }
            | AllocationCommand::Release { order_id, .. }
            | AllocationCommand::MarkShipped { order_id } => order_id,
        }
    }
}

/// Events of the `OrderAllocation` aggregate (stream `Allocation-{order_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub enum AllocationEvent {
    /// The order is confirmed: its stock is reserved.
    OrderConfirmed {
        /// The order.
        order_id: String,
        /// What was reserved.
        lines: Vec<AllocatedLine>,
    },
    /// The order was refused for lack of stock.
    OrderRejected {
        /// The order.
        order_id: String,
        /// Why (`out_of_stock`).
        reason: String,
        /// The line that failed.
        shortage: Shortage,
    },
    /// The confirmed order was cancelled; its reservations were released.
    AllocationReleased {
        /// The order.
        order_id: String,
        /// The cancellation reason.
        reason: String,
    },
    /// The confirmed order shipped.
    AllocationShipped {
        /// The order.
        order_id: String,
    },
}
