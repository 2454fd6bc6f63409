//! The order domain: the `Order` aggregate, its commands, events and money.

mod commands;
mod events;
mod money;
mod order;

pub use commands::OrderCommand;
pub use events::{OrderEvent, OrderLine};
pub use money::{Cents, Tier};
pub use order::{total_of, Order, OrderError, OrderStatus, MAX_LINES, MAX_QUANTITY};
