//! The membership of a sharded projection: every instance registers under a lease of its
//! own, reads who else is registered, and from that list (the same in every instance)
//! computes which shards it should run.

use std::sync::Arc;

use tokio::sync::watch;

use crate::lease::{LeaseConfig, LeaseStore};
use crate::projection::RunnerError;
use crate::worker::{sleep_or_stop, LeaseHolder, WorkerContext, WorkerState, WorkerStateWatch};

/// What one instance of a sharded projection sees: the live instances, and the shards
/// assigned to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMembership {
    /// The instances registered now (their holder ids, sorted), this one included once
    /// it registered.
    pub members: Vec<Arc<str>>,
    /// The shards this instance should run: shard `s` goes to `members[s % members.len()]`.
    pub assigned: Vec<u32>,
}

/// Shard `s` of `count` goes to `members[s % members.len()]` (`members` sorted); none to
/// `me` when it is not a member.
pub(super) fn assign(members: &[Arc<str>], me: &str, count: u32) -> Vec<u32> {
    if members.is_empty() {
        return Vec::new();
    }
    (0..count)
        .filter(|&shard| &*members[shard as usize % members.len()] == me)
        .collect()
}

/// The membership loop of one instance.
pub(super) struct Membership {
    pub leases: Arc<dyn LeaseStore>,
    /// Lease names of the members start with it; the member's holder id follows.
    pub prefix: String,
    pub holder: Arc<str>,
    pub config: LeaseConfig,
    /// One per shard: whether this instance runs it.
    pub assigned: Vec<watch::Sender<bool>>,
    /// The projection's name, for errors and logs.
    pub projection: String,
    /// Each shard runner's state: one that stopped on its own makes this instance leave,
    /// so that the others take its shards.
    pub shard_states: Vec<WorkerStateWatch>,
}

impl Membership {
    /// Registers, reads the members and updates the assignment every `renew_every` until
    /// a stop; then deregisters, so the others take this instance's shards at once. A
    /// store failure is logged and the assignment kept (the shards' own leases decide
    /// who works meanwhile). A shard runner that stopped for good (a permanent failure)
    /// makes the instance leave too, with [`RunnerError::ShardFailed`] naming it: its shard
    /// would otherwise stay assigned to an instance that no longer runs it.
    pub async fn run(self, ctx: WorkerContext<ShardMembership>) -> Result<(), RunnerError> {
        let mut registration = LeaseHolder::new(
            self.leases.clone(),
            format!("{}{}", self.prefix, self.holder),
            self.holder.clone(),
            self.config,
        );
        let every = registration.config().renew_every;
        let mut stop = ctx.stop_signal();
        let mut failed = None;
        while !ctx.stop_requested() {
            if let Some(shard_failure) = self.failed_shard() {
                tracing::error!(projection = %self.projection, shard = shard_failure.0, reason = %shard_failure.1, "a shard runner stopped for good: leaving, so that other instances take this one's shards");
                failed = Some(shard_failure);
                break;
            }
            match self.turn(&mut registration).await {
                Ok(members) => self.publish(&ctx, members),
                Err(error) => {
                    tracing::warn!(projection = %self.projection, %error, "shard membership: store failed; keeping the current assignment")
                }
            }
            if sleep_or_stop(every, &mut stop).await {
                break;
            }
        }
        for sender in &self.assigned {
            sender.send_if_modified(|runs| std::mem::replace(runs, false));
        }
        registration.release().await;
        match failed {
            None => Ok(()),
            Some((shard, reason)) => Err(RunnerError::ShardFailed {
                projection: self.projection.clone(),
                shard,
                reason,
            }),
        }
    }

    /// The shard whose runner stopped on its own (not asked to), and why, if one did.
    fn failed_shard(&self) -> Option<(u32, String)> {
        self.shard_states
            .iter()
            .enumerate()
            .find_map(|(shard, state)| match state.current() {
                WorkerState::Failed(reason) => Some((shard as u32, reason.to_string())),
                _ => None,
            })
    }

    /// Renews (or takes again) this instance's registration and reads the members, sorted
    /// by holder id (the order of their lease names).
    async fn turn(
        &self,
        registration: &mut LeaseHolder,
    ) -> Result<Vec<Arc<str>>, crate::StoreError> {
        let registered = registration.try_take().await?.is_some();
        let mut members: Vec<Arc<str>> = self
            .leases
            .live_leases(&self.prefix)
            .await?
            .into_iter()
            .map(|lease| lease.holder)
            .collect();
        // Registered, but its lease read as expired (a slow round trip): still a member.
        if registered {
            if let Err(at) = members.binary_search(&self.holder) {
                members.insert(at, self.holder.clone());
            }
        }
        Ok(members)
    }

    fn publish(&self, ctx: &WorkerContext<ShardMembership>, members: Vec<Arc<str>>) {
        let assigned = assign(&members, &self.holder, self.assigned.len() as u32);
        for (shard, sender) in self.assigned.iter().enumerate() {
            let now = assigned.contains(&(shard as u32));
            sender.send_if_modified(|runs| std::mem::replace(runs, now) != now);
        }
        ctx.report_if(|seen| {
            if seen.members == members && seen.assigned == assigned {
                return false;
            }
            tracing::info!(projection = %self.projection, members = members.len(), ?assigned, "shard assignment");
            *seen = ShardMembership { members, assigned };
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|&n| Arc::from(n)).collect()
    }

    #[test]
    fn every_shard_goes_to_exactly_one_member() {
        for k in 1..=6 {
            let names: Vec<String> = (0..k).map(|i| format!("m{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let all = members(&refs);
            let mut taken: Vec<u32> = refs.iter().flat_map(|me| assign(&all, me, 4)).collect();
            taken.sort_unstable();
            assert_eq!(taken, vec![0, 1, 2, 3], "{k} members");
        }
    }

    #[test]
    fn shards_are_spread_evenly() {
        let all = members(&["a", "b", "c"]);
        assert_eq!(assign(&all, "a", 4), vec![0, 3]);
        assert_eq!(assign(&all, "b", 4), vec![1]);
        assert_eq!(assign(&all, "c", 4), vec![2]);
        assert!(assign(&all, "not-registered", 4).is_empty());
        assert!(assign(&[], "a", 4).is_empty());
    }
}
