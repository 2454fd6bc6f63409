//! The saga fed from the global log, as a [`Projection`] (embedded mode).

use async_trait::async_trait;
use cqrs_core::{FailureKind, Persistence, Projection, RecordedEvent};

use super::{FulfilmentSaga, SagaError};

/// Runs the [`FulfilmentSaga`] on every event of the global log, under the checkpoint name
/// [`SagaProjection::NAME`]. Feed it with a [`ProjectionRunner`](cqrs_core::ProjectionRunner).
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
impl Projection for SagaProjection {
    type Error = SagaError;

    fn name(&self) -> &str {
        Self::NAME
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), SagaError> {
        self.saga.handle(event).await.map(|_| ())
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
