//! The order fulfilment saga (a process manager): reacts to the order example's events
//! and drives the `Product` and `OrderAllocation` aggregates.
//!
//! - `OrderPlaced`: reserve every line; if one cannot be reserved, record the rejection,
//!   release what was reserved and cancel the order with reason `out_of_stock`; otherwise
//!   record the order as confirmed.
//! - `OrderCancelled` of a confirmed order: release its reservations.
//! - `OrderShipped` of a confirmed order: the reserved units leave the stock on hand.
//!
//! The [`FulfilmentSaga`] gets order events decoded; the [`SagaProjection`] (a
//! [`TypedProjection`](cqrs_core::TypedProjection) of `Order`) feeds it from whatever
//! delivers them: a projection runner on the global log in embedded mode, a Kafka consumer
//! group through [`ProjectionHandler`](cqrs_kafka::ProjectionHandler) in services mode.
//! Delivery is at least once; the recorded allocation decision makes every redelivery a
//! no-op.

mod error;
mod fulfilment;
mod outcome;
mod projection;
#[cfg(test)]
mod span_test;

pub use error::SagaError;
pub use fulfilment::{FulfilmentSaga, OUT_OF_STOCK};
pub use outcome::SagaOutcome;
pub use projection::SagaProjection;
