//! What can be asked of a product.

use cqrs_core::Command;
use serde::{Deserialize, Serialize};

/// Commands of the `Product` aggregate; each names its sku (the stream id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductCommand {
    /// Register a new product. Registering it again with the same name is idempotent.
    RegisterProduct {
        /// Stock keeping unit.
        sku: String,
        /// Display name.
        name: String,
    },
    /// Add `qty` units to the stock on hand (1..=[`MAX_RECEIPT`](super::MAX_RECEIPT)).
    ReceiveStock {
        /// Product.
        sku: String,
        /// Units received.
        qty: u64,
    },
    /// Reserve `qty` units for an order. Idempotent per order id: the same reservation
    /// again changes nothing.
    ReserveStock {
        /// Product.
        sku: String,
        /// The order the units are held for.
        order_id: String,
        /// Units to hold.
        qty: u64,
    },
    /// Give an order's reserved units back. Releasing a reservation that does not exist is
    /// a no-op ([`ReleaseOutcome::NotReserved`](super::ReleaseOutcome::NotReserved)).
    ReleaseReservation {
        /// Product.
        sku: String,
        /// The order whose reservation is released.
        order_id: String,
    },
    /// The order's reserved units left the warehouse: they leave the stock on hand.
    ConfirmShipment {
        /// Product.
        sku: String,
        /// The shipped order.
        order_id: String,
    },
}

impl Command for ProductCommand {
    fn aggregate_id(&self) -> &str {
        match self {
            ProductCommand::RegisterProduct { sku, .. }
            | ProductCommand::ReceiveStock { sku, .. }
            | ProductCommand::ReserveStock { sku, .. }
            | ProductCommand::ReleaseReservation { sku, .. }
            | ProductCommand::ConfirmShipment { sku, .. } => sku,
        }
    }
}
