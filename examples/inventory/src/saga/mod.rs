//! The order fulfilment saga (a process manager): reacts to the order example's events
//! and drives the `Product` and `OrderAllocation` aggregates.
//!
//! - `OrderPlaced`: reserve every line; if one cannot be reserved, record the rejection,
//!   release what was reserved and cancel the order with reason `out_of_stock`; otherwise
//!   record the order as confirmed.
//! - `OrderCancelled` of a confirmed order: release its reservations.
//! - `OrderShipped` of a confirmed order: the reserved units leave the stock on hand.
//!
//! The saga is fed by whatever delivers the order events: the [`SagaProjection`] on the
//! global log in embedded mode, a Kafka consumer group in services mode. Delivery is at
//! least once; the recorded allocation decision makes every redelivery a no-op.

mod error;
mod fulfilment;
mod projection;

pub use error::SagaError;
pub use fulfilment::{FulfilmentSaga, SagaOutcome, OUT_OF_STOCK};
pub use projection::SagaProjection;
