//! Why the saga could not finish handling an event (infrastructure, never a refusal).

use cqrs_core::{CommandError, DecodeError, LoadError};
use order::domain::OrderError;

use crate::domain::{AllocationError, ProductError};

/// The saga failed on one event; redelivering it later is safe.
///
/// Domain refusals are part of the saga's logic (a refused reservation rejects the order);
/// only failures of the store or of decoding end up here.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The event's payload could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The order's allocation could not be loaded.
    #[error("saga for order `{order_id}`: cannot load its allocation: {source}")]
    Load {
        /// The order.
        order_id: String,
        /// The store's error.
        #[source]
        source: LoadError,
    },
    /// A product command failed for an infrastructure reason.
    #[error("saga for order `{order_id}`: product command failed: {source}")]
    Product {
        /// The order.
        order_id: String,
        /// The pipeline's error.
        #[source]
        source: CommandError<ProductError>,
    },
    /// An allocation command failed for an infrastructure reason.
    #[error("saga for order `{order_id}`: allocation command failed: {source}")]
    Allocation {
        /// The order.
        order_id: String,
        /// The pipeline's error.
        #[source]
        source: CommandError<AllocationError>,
    },
    /// Cancelling the order failed for an infrastructure reason.
    #[error("saga for order `{order_id}`: order command failed: {source}")]
    Order {
        /// The order.
        order_id: String,
        /// The pipeline's error.
        #[source]
        source: CommandError<OrderError>,
    },
}
