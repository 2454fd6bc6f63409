//! What a projection runner reports: its progress (checkpoint and lease role), its handle,
//! and why it stopped.

use crate::error::{BoxError, StoreError};
use crate::worker::{LeaseRole, LogProgress, Worker};

/// Why a projection runner stopped or a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The projection kept failing on one event.
    #[error("projection `{projection}` failed at position {position} (`{event_type}` in stream `{stream}`) after {attempts} attempts: {source}")]
    Projection {
        /// Projection name.
        projection: String,
        /// Position of the failing event (the checkpoint is just before it).
        position: u64,
        /// Its stream.
        stream: String,
        /// Its type.
        event_type: String,
        /// Attempts made.
        attempts: u32,
        /// The projection's last error.
        #[source]
        source: BoxError,
    },
    /// Clearing the read model for a rebuild failed (the checkpoint was left as it was).
    #[error("projection `{projection}`: resetting the read model for a rebuild failed: {source}")]
    Reset {
        /// Projection name.
        projection: String,
        /// The projection's error.
        #[source]
        source: BoxError,
    },
    /// The store kept failing.
    #[error("projection `{projection}`: store failed: {source}")]
    Store {
        /// Projection name.
        projection: String,
        /// The store's last error.
        #[source]
        source: StoreError,
    },
    /// A lease was configured for a [`Persistence::InMemory`](super::Persistence::InMemory)
    /// projection: every replica keeps its own in-memory view and must apply the whole log
    /// itself, so such a projection cannot run under a lease. Leases are for durable read
    /// models (and relays); run an in-memory projection without one in every replica.
    #[error("projection `{projection}` is in-memory: each replica keeps its own view, so it cannot run under a lease (leases are for durable read models)")]
    LeaseOnInMemory {
        /// Projection name.
        projection: String,
    },
    /// A shard of a sharded projection stopped for good (see
    /// [`ShardedRunner`](super::shard::ShardedRunner)): its instance left the membership,
    /// so the other instances run its shards. The shard's own runner has the full error.
    #[error("projection `{projection}`: shard {shard} stopped for good, so this instance left and the others run its shards: {reason}")]
    ShardFailed {
        /// Projection name.
        projection: String,
        /// The shard that stopped.
        shard: u32,
        /// Why its runner stopped.
        reason: String,
    },
    /// A shutdown was requested while the runner waited to retry a failure. A spawned
    /// runner turns it into a graceful stop (its [`shutdown`](crate::worker::Worker::shutdown)
    /// returns the projection); only code driving the runner by hand sees it.
    #[error("projection `{projection}` runner stopped: {reason}")]
    Stopped {
        /// Projection name.
        projection: String,
        /// Why.
        reason: String,
    },
}

/// How far a projection runner got (the checkpoint it stored last), and whether it works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectionProgress {
    /// Every event up to this position is applied and the checkpoint stored (by this
    /// runner: a standby's stays where it was while another instance works).
    pub checkpoint: u64,
    /// [`LeaseRole::Leader`] while the runner works: always for a runner without a lease,
    /// while it holds its lease for one with a lease
    /// ([`ProjectionRunner::with_lease`](super::ProjectionRunner::with_lease),
    /// [`TransactionalRunner::with_lease`](super::TransactionalRunner::with_lease));
    /// [`LeaseRole::Standby`] while another instance holds it, and from the moment the
    /// runner starts giving it up (a stop, a shard handed over). A holder paused past its
    /// lease's `ttl` still reads Leader until its next renewal or fenced write tells it
    /// otherwise (it can then commit nothing: see fencing in the
    /// [module docs](super#several-replicas)).
    pub role: LeaseRole,
}

impl ProjectionProgress {
    /// The progress a runner starts with: nothing stored yet, a leader unless it must
    /// take a lease first.
    pub(super) fn start(leased: bool) -> Self {
        Self {
            checkpoint: 0,
            role: if leased {
                LeaseRole::Standby
            } else {
                LeaseRole::Leader
            },
        }
    }
}

impl LogProgress for ProjectionProgress {
    fn log_position(&self) -> u64 {
        self.checkpoint
    }
}

/// A projection running in a background task: the one [`Worker`] handle, with the
/// projection back from [`shutdown`](Worker::shutdown) and [`RunnerError`] when it stopped
/// for good. Returned by the [`ProjectionRunner`](super::ProjectionRunner) and the
/// [`TransactionalRunner`](super::TransactionalRunner) alike.
pub type RunningProjection<P> = Worker<ProjectionProgress, P, RunnerError>;
