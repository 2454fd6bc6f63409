//! What happened to an order.

use cqrs_core::Event;
use serde::{Deserialize, Serialize};

use super::money::Cents;

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Stock keeping unit.
    pub sku: String,
    /// Human readable label.
    pub label: String,
    /// Price of one unit, in minor units.
    pub unit_price: Cents,
    /// Units ordered, 1..=1000.
    pub quantity: u32,
}

/// Events of the `Order` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub enum OrderEvent {
    /// The order was placed.
    OrderPlaced {
        /// Order id.
        order_id: String,
        /// Customer id.
        customer_id: String,
        /// Its lines.
        lines: Vec<OrderLine>,
    },
    /// The order was paid.
    OrderPaid {
        /// Amount paid.
        amount: Cents,
    },
    /// The order was cancelled.
    OrderCancelled {
        /// Why.
        reason: String,
    },
    /// The order was shipped.
    OrderShipped,
    /// The inventory reserved the order's stock.
    OrderConfirmed,
}
