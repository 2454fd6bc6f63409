//! Why the saga could not finish handling an event (infrastructure, never a refusal).

use cqrs_core::{CommandError, FailureKind, LoadError};

use crate::domain::{AllocationError, ProductError};

/// The saga failed on one event; redelivering it later is safe.
///
/// Domain refusals are part of the saga's logic (a refused reservation rejects the order);
/// only failures of the store end up here (an order event that does not decode never
/// reaches the saga: [`SagaProjection`](super::SagaProjection) reports it as permanent).
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
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
    /// A command to the order service failed: no reply in time, the bus is down, or the
    /// order service could not run it.
    #[error("saga for order `{order_id}`: order command `{step}` failed ({kind:?}): {detail}")]
    OrderCommand {
        /// The order.
        order_id: String,
        /// The saga step that sent it (`order:confirm`, `order:cancel`).
        step: &'static str,
        /// Whether retrying may help.
        kind: FailureKind,
        /// What went wrong.
        detail: String,
    },
}

impl SagaError {
    /// How a consumer treats this failure: a store failure by [`StoreError::kind`]
    /// (unavailable, timeout: transient, retried without skipping; input the store refuses
    /// for good: permanent); contention that did not resolve is transient; a stored event
    /// that does not decode is permanent (dead-lettered, and the consumer moves on).
    ///
    /// [`StoreError::kind`]: cqrs_core::StoreError::kind
    pub fn kind(&self) -> FailureKind {
        match self {
            SagaError::Load { source, .. } => match source {
                LoadError::Store(e) => e.kind(),
                LoadError::Decode(_) => FailureKind::Permanent,
            },
            SagaError::Product { source, .. } => source.kind(),
            SagaError::Allocation { source, .. } => source.kind(),
            SagaError::OrderCommand { kind, .. } => *kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_core::StoreError;

    use super::*;

    fn product(source: StoreError) -> SagaError {
        SagaError::Product {
            order_id: "o-1".into(),
            source: CommandError::Store(source),
        }
    }

    #[test]
    fn store_refusals_are_permanent_and_outages_transient() {
        let refused = product(StoreError::InvalidInput {
            stream: "Product-pen".into(),
            reason: "payload over the limit".into(),
        });
        assert_eq!(refused.kind(), FailureKind::Permanent);
        let down = product(StoreError::Unavailable {
            operation: "append",
            source: "connection refused".into(),
        });
        assert_eq!(down.kind(), FailureKind::Transient);
        let load = SagaError::Load {
            order_id: "o-1".into(),
            source: LoadError::Store(StoreError::Timeout { operation: "read" }),
        };
        assert_eq!(load.kind(), FailureKind::Transient);
    }
}
