//! The saga as a [`TypedProjection`] of `Order`: fed from the global log (embedded mode) or
//! from Kafka (services mode) alike.

use async_trait::async_trait;
use cqrs_core::{FailureKind, Persistence, RecordedEvent, TypedProjection, Upcasters};
use order::domain::{Order, OrderEvent};

use super::{FulfilmentSaga, SagaError};

/// Runs the [`FulfilmentSaga`] on every `Order` event, decoded, under the checkpoint name
/// [`SagaProjection::NAME`]. Feed it with a [`ProjectionRunner`](cqrs_core::ProjectionRunner)
/// from the log, or with a [`ProjectionHandler`](cqrs_kafka::ProjectionHandler) from Kafka;
/// failures are classified by [`SagaError::kind`].
pub struct SagaProjection {
    saga: FulfilmentSaga,
}

impl SagaProjection {
    /// Checkpoint name.
    pub const NAME: &'static str = "inventory-fulfilment-saga";

    /// Wraps a saga.
    pub fn new(saga: FulfilmentSaga) -> Self {
        Self { saga }
    }
}

#[async_trait]
impl TypedProjection for SagaProjection {
    type Aggregate = Order;
    type Error = SagaError;

    fn name(&self) -> &str {
        Self::NAME
    }

    async fn apply(
        &mut self,
        event: &OrderEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), SagaError> {
        self.saga.handle(event, envelope).await.map(|_| ())
    }

    fn upcasters(&self) -> &Upcasters {
        self.saga.upcasters()
    }

    /// The saga's effects are commands stored in the event store: resuming after the
    /// checkpoint, not replaying the log, is what keeps them from being sent again.
    fn persistence(&self) -> Persistence {
        Persistence::Durable
    }

    fn failure_kind(&self, error: &SagaError) -> FailureKind {
        error.kind()
    }
}
