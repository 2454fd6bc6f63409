//! One way to ignore redelivered events, for projections fed from the log and from Kafka
//! alike.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Persistence, Projection};
use crate::envelope::RecordedEvent;
use crate::failure::FailureKind;

/// Wraps a projection so that it sees each event once, however often it is delivered.
///
/// It remembers the last stream version applied per stream and passes over events at or
/// below it. That works for every feed of this workspace: the global log redelivers after a
/// restart from the checkpoint, Kafka redelivers from the committed offset, and both keep
/// one stream's events in version order (a global position would not do for Kafka, where
/// only a partition is ordered). It costs one entry per stream seen.
///
/// The memory is the wrapper's own: it suits in-memory read models (rebuilt with it on
/// start). A read model in a database keeps its "last applied" in that database, in the
/// transaction that updates it.
///
/// ```
/// # use async_trait::async_trait;
/// # use cqrs_core::*;
/// # use cqrs_core::projection::Deduplicated;
/// # #[derive(Default)] struct Count(u64);
/// # #[async_trait] impl Projection for Count {
/// #     type Error = std::convert::Infallible;
/// #     fn name(&self) -> &str { "count" }
/// #     fn persistence(&self) -> Persistence { Persistence::InMemory }
/// #     async fn apply(&mut self, _: &RecordedEvent) -> Result<(), Self::Error> { self.0 += 1; Ok(()) }
/// # }
/// let projection = Deduplicated::new(Count::default());
/// # let _ = projection;
/// ```
#[derive(Debug)]
pub struct Deduplicated<P> {
    inner: P,
    applied: HashMap<Arc<str>, u64>,
}

impl<P: Projection> Deduplicated<P> {
    /// Wraps `inner`, which has applied nothing yet.
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            applied: HashMap::new(),
        }
    }

    /// The wrapped projection.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Gives the wrapped projection back.
    pub fn into_inner(self) -> P {
        self.inner
    }

    /// The last stream version applied to `stream`, 0 if none.
    pub fn applied_version(&self, stream: &str) -> u64 {
        self.applied.get(stream).copied().unwrap_or(0)
    }
}

#[async_trait]
impl<P: Projection> Projection for Deduplicated<P> {
    type Error = P::Error;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if event.stream_version <= self.applied_version(&event.stream_id) {
            return Ok(());
        }
        self.inner.apply(event).await?;
        self.applied
            .insert(event.stream_id.clone(), event.stream_version);
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), Self::Error> {
        self.inner.reset().await?;
        self.applied.clear();
        Ok(())
    }

    fn failure_kind(&self, error: &Self::Error) -> FailureKind {
        self.inner.failure_kind(error)
    }

    fn persistence(&self) -> Persistence {
        self.inner.persistence()
    }
}
