//! [`ShardedRunner`]: splits a projection into shards by stream and runs one instance's
//! part of them.

use std::sync::Arc;

use tokio::sync::watch;

use super::members::{Membership, ShardMembership};
use super::running::RunningShards;
use super::sharded::{Shard, Sharded};
use crate::lease::{LeaseConfig, LeaseStore};
use crate::projection::lease::LeaseSetup;
use crate::projection::transactional::{self, TransactionalProjection, TransactionalStore};
use crate::projection::{
    Projection, ProjectionRunner, RunnerConfig, RunnerError, RunningProjection, TransactionalRunner,
};
use crate::store::EventStore;
use crate::worker::Worker;

/// Runs a projection split into `count` shards by stream ([`shard_of`](super::shard_of)),
/// each with its own lease and checkpoint, in as many replicas as you like: the live
/// replicas share the shards out evenly (see the [module docs](super)).
///
/// Build it with [`transactional`](ShardedRunner::transactional) (a
/// [`TransactionalProjection`], exactly once) or [`projection`](ShardedRunner::projection)
/// (a durable [`Projection`], at least once), then [`spawn`](ShardedRunner::spawn) it in
/// every replica.
pub struct ShardedRunner<R> {
    runners: Vec<R>,
    projection: String,
    leases: Arc<dyn LeaseStore>,
    config: LeaseConfig,
    holder: Option<Arc<str>>,
}

impl<R> ShardedRunner<R> {
    fn with_runners(runners: Vec<R>, projection: String, leases: Arc<dyn LeaseStore>) -> Self {
        Self {
            runners,
            projection,
            leases,
            config: LeaseConfig::default(),
            holder: None,
        }
    }

    /// How the shards' leases and this instance's membership are kept: a dead instance's
    /// shards move to the others within about `ttl + renew_every + retry_every`.
    pub fn with_lease_config(mut self, config: LeaseConfig) -> Self {
        self.config = config;
        self
    }

    /// This instance's holder id instead of [`holder_id`](crate::lease::holder_id). Every
    /// instance needs its own: two instances under one id are one member to the others,
    /// and both run its shards. Prefer the default, which also differs between a process
    /// and its restart: a restart under the same id takes its old leases back under their
    /// old tokens, so a paused predecessor would not be fenced.
    pub fn with_lease_holder(mut self, holder: impl Into<Arc<str>>) -> Self {
        self.holder = Some(holder.into());
        self
    }

    fn map_runners(mut self, change: impl FnMut(R) -> R) -> Self {
        self.runners = self.runners.into_iter().map(change).collect();
        self
    }

    /// How many shards.
    pub fn count(&self) -> u32 {
        self.runners.len() as u32
    }

    /// Each shard's name, by index: the key of its checkpoint and its lease.
    pub fn shard_names(&self) -> Vec<String> {
        (0..self.count())
            .map(|index| {
                Shard {
                    index,
                    count: self.count(),
                }
                .name(&self.projection)
            })
            .collect()
    }

    /// The name prefix of the members' leases: `{projection}.shards-of-{count}.members/`.
    fn members_prefix(&self) -> String {
        format!("{}.shards-of-{}.members/", self.projection, self.count())
    }

    /// Registers this instance and spawns each shard's runner with `spawn`, gated by the
    /// membership's assignment.
    fn start<P: Send + 'static>(
        self,
        spawn: impl Fn(R, LeaseSetup) -> RunningProjection<Sharded<P>>,
    ) -> RunningShards<P> {
        let holder = self
            .holder
            .clone()
            .unwrap_or_else(|| crate::lease::holder_id().into());
        let members_prefix = self.members_prefix();
        let (senders, receivers): (Vec<_>, Vec<_>) =
            self.runners.iter().map(|_| watch::channel(false)).unzip();
        let shards: Vec<_> = self
            .runners
            .into_iter()
            .zip(receivers)
            .map(|(runner, assigned)| {
                let setup = LeaseSetup {
                    store: self.leases.clone(),
                    config: self.config,
                    holder: Some(holder.clone()),
                    assigned: Some(assigned),
                };
                spawn(runner, setup)
            })
            .collect();
        let membership = Membership {
            leases: self.leases.clone(),
            prefix: members_prefix,
            holder,
            config: self.config,
            assigned: senders,
            projection: self.projection.clone(),
            shard_states: shards.iter().map(|shard| shard.state()).collect(),
        };
        let membership = Worker::spawn(
            format!("{}.members", self.projection),
            ShardMembership::default(),
            move |ctx| membership.run(ctx),
        );
        RunningShards::new(membership, shards)
    }
}

/// One runner per shard of `count`, each made by `runner` from shard `make(shard)`, and
/// the projection's name (`name` of the first).
fn shard_runners<P, R>(
    count: u32,
    mut make: impl FnMut(Shard) -> P,
    name: impl Fn(&P) -> String,
    runner: impl Fn(Sharded<P>) -> R,
) -> (Vec<R>, String) {
    assert!(count > 0, "a projection has at least one shard");
    let shards: Vec<(Shard, P)> = (0..count)
        .map(|index| {
            let shard = Shard { index, count };
            (shard, make(shard))
        })
        .collect();
    let projection = name(&shards[0].1);
    let runners = shards
        .into_iter()
        .map(|(shard, inner)| runner(Sharded::new(inner, shard, &projection)))
        .collect();
    (runners, projection)
}

impl<P, S> ShardedRunner<TransactionalRunner<Sharded<P>, S>>
where
    S: TransactionalStore + LeaseStore,
    P: TransactionalProjection<S::Connection>,
{
    /// Transactional projection `make(shard)` in `count` shards on `store`, which also keeps
    /// the leases and fences each batch's commit
    /// ([`TransactionalRunner::with_lease`]): each shard's read-model changes commit exactly
    /// once, whoever runs it.
    ///
    /// `make` is called once per shard; every shard writes the same read model (its own
    /// streams' rows), so they must agree on its tables.
    ///
    /// # Panics
    /// When `count` is 0.
    pub fn transactional(store: Arc<S>, count: u32, make: impl FnMut(Shard) -> P) -> Self {
        let (runners, projection) = shard_runners(
            count,
            make,
            |p| p.name().to_owned(),
            |sharded| TransactionalRunner::new(store.clone(), sharded),
        );
        let leases: Arc<dyn LeaseStore> = store;
        Self::with_runners(runners, projection, leases)
    }

    /// Sets every shard runner's configuration.
    pub fn with_config(self, config: RunnerConfig) -> Self {
        self.map_runners(|runner| runner.with_config(config))
    }

    /// Prepares a rebuild of the whole projection: clears the read model once and sets
    /// every shard's checkpoint back to 0, in one transaction that holds every shard's
    /// checkpoint lock (the running shards of every instance wait for it, then replay the
    /// log from the start). On failure nothing changed.
    pub async fn rebuild(&mut self) -> Result<(), RunnerError> {
        let names = self.shard_names();
        let (store, projection) = self.runners[0].parts_mut();
        transactional::reset_checkpoints(&**store, projection, &self.projection, &names).await
    }

    /// Spawns this instance: it registers, and runs the shards assigned to it.
    pub fn spawn(self) -> RunningShards<P> {
        self.start(|runner, setup| runner.with_lease_setup(setup).spawn())
    }
}

impl<P, S> ShardedRunner<ProjectionRunner<Sharded<P>, S>>
where
    P: Projection,
    S: EventStore + ?Sized,
{
    /// Durable projection `make(shard)` in `count` shards, read from `store`, under leases
    /// kept (and checkpoints fenced) by `leases`, the same store (see
    /// [`ProjectionRunner::with_lease`]). At least once, as that runner is: a shard that
    /// moves may see the events of its last batch again.
    ///
    /// Only for [`Persistence::Durable`](crate::Persistence::Durable) projections: an
    /// in-memory one is every replica's own view and must see every stream (its shards
    /// stop with [`RunnerError::LeaseOnInMemory`]).
    ///
    /// # Panics
    /// When `count` is 0.
    pub fn projection(
        store: Arc<S>,
        leases: Arc<dyn LeaseStore>,
        count: u32,
        make: impl FnMut(Shard) -> P,
    ) -> Self {
        let (runners, projection) = shard_runners(
            count,
            make,
            |p| p.name().to_owned(),
            |sharded| ProjectionRunner::new(store.clone(), sharded),
        );
        Self::with_runners(runners, projection, leases)
    }

    /// Sets every shard runner's configuration.
    pub fn with_config(self, config: RunnerConfig) -> Self {
        self.map_runners(|runner| runner.with_config(config))
    }

    /// Prepares a rebuild of the whole projection: resets each shard's projection
    /// ([`Projection::reset`]) and sets its checkpoint back to 0. Run it while no instance
    /// runs the projection (the core runner has no checkpoint lock to wait on).
    pub async fn rebuild(&mut self) -> Result<(), RunnerError> {
        for runner in &mut self.runners {
            runner.rebuild().await?;
        }
        Ok(())
    }

    /// Spawns this instance: it registers, and runs the shards assigned to it.
    pub fn spawn(self) -> RunningShards<P> {
        self.start(|runner, setup| runner.with_lease_setup(setup).spawn())
    }
}
