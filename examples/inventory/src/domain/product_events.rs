//! What happened to a product's stock.

use cqrs_core::Event;
use serde::{Deserialize, Serialize};

/// Events of the `Product` aggregate. The sku is the stream id (`Product-{sku}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
pub enum ProductEvent {
    /// The product exists.
    ProductRegistered {
        /// Stock keeping unit.
        sku: String,
        /// Display name.
        name: String,
    },
    /// Units arrived.
    StockReceived {
        /// Units received.
        qty: u64,
    },
    /// Units are held for an order.
    StockReserved {
        /// The order.
        order_id: String,
        /// Units held.
        qty: u64,
    },
    /// An order's held units are available again.
    ReservationReleased {
        /// The order.
        order_id: String,
        /// Units released.
        qty: u64,
    },
    /// An order's held units were shipped: they leave the stock on hand.
    ShipmentConfirmed {
        /// The order.
        order_id: String,
        /// Units shipped.
        qty: u64,
    },
}
