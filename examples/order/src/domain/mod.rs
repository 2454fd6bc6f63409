//! The order domain: the `Order` aggregate, its commands, events and money.

mod commands;
mod events;
pub mod limits;
mod money;
mod order;

pub use commands::OrderCommand;
pub use events::{OrderEvent, OrderLine};
pub use limits::{
    check_id, check_lines, check_place, check_reason, check_text, FieldError, MAX_ID_LEN,
    MAX_LABEL_LEN, MAX_LINES, MAX_QUANTITY, MAX_REASON_LEN, MAX_SKU_LEN, MAX_UNIT_PRICE,
};
pub use money::{Cents, Tier};
pub use order::{line_total, total_of, Order, OrderError, OrderStatus};
