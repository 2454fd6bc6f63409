//! Projections: read models built from the global log, and the runner that feeds them.
//!
//! # Delivery and idempotence contract
//! The [`ProjectionRunner`] delivers events **at least once**, in position order. It stores
//! the projection's checkpoint after each batch (and, when a projection fails, up to the
//! last event that succeeded). If the process stops between applying events and storing the
//! checkpoint, those events are delivered again after the restart. A projection therefore
//! either
//! - is naturally idempotent (sets values rather than incrementing them), or
//! - remembers the last position it applied and ignores `event.position <= last`, or
//! - stores its read model and its checkpoint in one transaction: a
//!   [`TransactionalProjection`] run by the [`TransactionalRunner`] (see [`transactional`]),
//!   which gives an exactly-once effect.

mod dedupe;
mod lease;
mod report;
mod runner;
pub mod transactional;
mod typed;

use async_trait::async_trait;

pub use dedupe::Deduplicated;
pub use report::{ProjectionProgress, RunnerError, RunningProjection};
pub use runner::{ProjectionRunner, RunnerConfig};
pub use transactional::{TransactionalProjection, TransactionalRunner, TransactionalStore};
pub use typed::{TypedProjection, TypedProjectionError};

use crate::envelope::RecordedEvent;
use crate::failure::FailureKind;

/// A read model fed from the global log.
///
/// `name` is stable: it keys the projection's checkpoint. Errors are returned, never
/// swallowed: the runner retries them per its policy, then stops and reports the failing
/// position.
///
/// ```
/// use async_trait::async_trait;
/// use cqrs_core::{Persistence, Projection, RecordedEvent};
///
/// #[derive(Default)]
/// struct EventCounter { seen: u64, last_position: u64 }
///
/// #[async_trait]
/// impl Projection for EventCounter {
///     type Error = std::convert::Infallible;
///     fn name(&self) -> &str { "event-counter" }
///     fn persistence(&self) -> Persistence { Persistence::InMemory } // rebuilt on start
///     async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
///         if event.position <= self.last_position { return Ok(()); } // redelivery
///         self.seen += 1;
///         self.last_position = event.position;
///         Ok(())
///     }
///     async fn reset(&mut self) -> Result<(), Self::Error> {
///         *self = Self::default();
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The projection's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stable name, used as the checkpoint key.
    fn name(&self) -> &str;

    /// Applies one recorded event. Called in position order, at least once per event.
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error>;

    /// Clears the read model before a rebuild. The default does nothing.
    async fn reset(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// How a runner treats `error`: [`FailureKind::Transient`] (its database is down, a
    /// timeout) is retried with backoff until it succeeds, never skipped;
    /// [`FailureKind::Permanent`] (the default: the event can never be applied) is retried
    /// per the runner's policy, then the runner stops at that position.
    fn failure_kind(&self, error: &Self::Error) -> FailureKind {
        let _ = error;
        FailureKind::Permanent
    }

    /// Where the read model lives, which decides where a runner starts it:
    /// [`Persistence::InMemory`] replays the log from the start in every new process,
    /// [`Persistence::Durable`] resumes after the stored checkpoint. Required, so that
    /// neither an in-memory model resumed with a gap nor a database replayed from the
    /// start happens by accident.
    fn persistence(&self) -> Persistence;
}

/// Where a projection's read model lives ([`Projection::persistence`]).
///
/// A checkpoint says how far a read model got; it is only worth resuming from when the
/// read model outlived the process that stored it. An in-memory model restarted from a
/// stored checkpoint would silently miss everything before it, so a runner replays the
/// whole log for it instead (and logs that it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// The model lives in this process (a map, a counter): rebuilt from the log on start.
    InMemory,
    /// The model outlives the process (a database table, or effects such as commands
    /// sent by a saga): resumed after the stored checkpoint.
    Durable,
}
