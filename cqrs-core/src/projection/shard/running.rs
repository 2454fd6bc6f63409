//! [`RunningShards`]: the handle of one instance of a sharded projection.

use super::members::ShardMembership;
use super::sharded::Sharded;
use crate::projection::{RunnerError, RunningProjection};
use crate::worker::{LeaseRole, ShutdownError, Worker};

/// One instance of a sharded projection, running: its membership and one runner per
/// shard (each standing by unless this instance is assigned the shard and holds its
/// lease). Returned by [`ShardedRunner::spawn`](super::ShardedRunner).
///
/// Watch [`membership`](Self::membership)'s state for health: it fails, naming the shard
/// and its error, when a shard runner stopped for good; the instance then has left and
/// runs nothing (the others took its shards).
pub struct RunningShards<P> {
    membership: Worker<ShardMembership, (), RunnerError>,
    shards: Vec<RunningProjection<Sharded<P>>>,
}

impl<P: Send + 'static> RunningShards<P> {
    pub(super) fn new(
        membership: Worker<ShardMembership, (), RunnerError>,
        shards: Vec<RunningProjection<Sharded<P>>>,
    ) -> Self {
        Self { membership, shards }
    }

    /// The runner of each shard, by index: its progress (checkpoint, role) and state.
    pub fn shards(&self) -> &[RunningProjection<Sharded<P>>] {
        &self.shards
    }

    /// The membership this instance sees: the live instances and its assigned shards.
    pub fn membership(&self) -> &Worker<ShardMembership, (), RunnerError> {
        &self.membership
    }

    /// The shards this instance works on now (holds the lease of).
    pub fn led(&self) -> Vec<u32> {
        self.shards
            .iter()
            .enumerate()
            .filter(|(_, shard)| shard.progress().role == LeaseRole::Leader)
            .map(|(index, _)| index as u32)
            .collect()
    }

    /// Stops gracefully: deregisters first (so the other instances take this one's shards
    /// at their next turn), then stops every shard's runner, which gives its lease up.
    /// Returns each shard's projection, by index; the first error of a runner that had
    /// stopped for good, after stopping all of them.
    pub async fn shutdown(self) -> Result<Vec<P>, ShutdownError<RunnerError>> {
        let membership = self.membership.shutdown().await;
        let stopped =
            futures::future::join_all(self.shards.into_iter().map(|shard| shard.shutdown())).await;
        let mut projections = Vec::with_capacity(stopped.len());
        let mut first_error = membership.err();
        for shard in stopped {
            match shard {
                Ok(sharded) => projections.push(sharded.into_inner()),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(projections),
        }
    }

    /// Kills every task at once, as a crash would: nothing is given up, the other
    /// instances take the shards when the leases expire.
    pub fn abort(self) {
        self.membership.abort();
        for shard in self.shards {
            shard.abort();
        }
    }
}

impl<P> std::fmt::Debug for RunningShards<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningShards")
            .field("membership", &self.membership.progress())
            .field("shards", &self.shards.len())
            .finish()
    }
}
