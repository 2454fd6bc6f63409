//! The inventory domain: the `Product` aggregate (stock per sku) and the `OrderAllocation`
//! aggregate (the saga's decision per order, recorded once).

mod allocation;
mod allocation_messages;
mod limits;
mod outcomes;
mod product;
mod product_commands;
mod product_events;

pub use allocation::{AllocationError, AllocationStatus, OrderAllocation};
pub use allocation_messages::{AllocatedLine, AllocationCommand, AllocationEvent, Shortage};
pub use limits::{
    validate_name, validate_sku, MAX_NAME_LEN, MAX_ON_HAND, MAX_RECEIPT, MAX_SKU_LEN,
};
pub use outcomes::{ReleaseOutcome, ReserveOutcome};
pub use product::{Product, ProductError};
pub use product_commands::ProductCommand;
pub use product_events::ProductEvent;
