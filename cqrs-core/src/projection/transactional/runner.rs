//! [`TransactionalRunner`]: feeds a [`TransactionalProjection`] from the global log, one
//! transaction per batch, in the background or by hand.

use std::sync::Arc;

use super::batch::{self, BatchFailure, Outcome, Scope};
use super::{TransactionalProjection, TransactionalStore};
use crate::failure::FailureKind;
use crate::lease::{Lease, LeaseConfig, LeaseStore};
use crate::projection::gauges::ProgressGauges;
use crate::projection::lease::{
    idle_wait, initial_role, Held, LeaseChoice, LeaseSetup, RunnerLease,
};
use crate::projection::{ProjectionProgress, RunnerConfig, RunnerError, RunningProjection};
use crate::worker::{sleep_or_stop, stop_requested, Worker, WorkerContext};

/// Feeds a [`TransactionalProjection`] from the global log of store `S`: each batch in one
/// transaction with its checkpoint (see the [module docs](super) for the steps), so the
/// read model has applied every committed event exactly once, across crashes and with
/// several runners of the same projection.
///
/// Spawned ([`spawn`](Self::spawn)), it follows the log, woken by the store, and classifies
/// each failure:
/// - **transient** (connection lost, timeout, serialization failure or write conflict,
///   commit result unknown): the batch is rolled back and retried with the backoff of
///   [`RunnerConfig::retry`] for as long as the failure lasts, never skipped (its
///   `max_attempts` does not apply). A shutdown during the wait is a graceful stop.
/// - **permanent** (the read model refuses the event for good: a NUL in text, a key over
///   an index limit, a decode error): retrying cannot help and skipping would lose the
///   event silently (a log-fed projection has no dead-letter topic). The runner commits
///   the batch's events before the failing one, then stops at once with
///   [`RunnerError::Projection`] naming the event's position, stream and type. The stop
///   is visible through [`RunningProjection::state`](crate::worker::Worker::state)
///   (failed, with that text) and the checkpoint stays right before the event: fix the
///   projection (or the data) and start the runner again.
///
/// Driven by hand ([`run_batch`](Self::run_batch), [`catch_up`](Self::catch_up),
/// [`rebuild`](Self::rebuild)), it returns the first failure instead of retrying; a
/// permanent failure of the projection still commits the events before it.
///
/// In several replicas, give it a lease ([`with_lease`](Self::with_lease)): one instance
/// works, the others stand by, and a deposed instance cannot commit (see the
/// [module docs](crate::projection#several-replicas)).
///
/// ```
/// use std::sync::Arc;
/// use cqrs_core::{RunningProjection, TransactionalProjection, TransactionalRunner, TransactionalStore};
///
/// /// Starts any transactional projection on any store that supports them.
/// fn start<S, P>(store: Arc<S>, projection: P) -> RunningProjection<P>
/// where
///     S: TransactionalStore,
///     P: TransactionalProjection<S::Connection>,
/// {
///     TransactionalRunner::new(store, projection).spawn()
/// }
/// ```
pub struct TransactionalRunner<P, S>
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    store: Arc<S>,
    projection: P,
    config: RunnerConfig,
    lease: LeaseChoice,
}

impl<P, S> TransactionalRunner<P, S>
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    /// A runner with the default [`RunnerConfig`].
    pub fn new(store: Arc<S>, projection: P) -> Self {
        Self {
            store,
            projection,
            config: RunnerConfig::default(),
            lease: LeaseChoice::default(),
        }
    }

    /// Runs the spawned runner under a lease kept by its own store, named after the
    /// projection and taken as [`holder_id`](crate::lease::holder_id) (see
    /// [`with_lease_holder`](Self::with_lease_holder)): of several replicas only the
    /// holder works, the others stand by and take over within
    /// `config.ttl + config.retry_every` when it dies.
    ///
    /// Each batch checks the lease inside its transaction just before the commit
    /// ([`TransactionalStore::fence_in`]): a runner that lost the lease meanwhile (paused
    /// past its `ttl` while another took over) rolls the whole batch back (read model and
    /// checkpoint) and stands by. The lease comes from the store itself because that check
    /// runs in the batch's transaction. It governs [`spawn`](Self::spawn) only;
    /// [`catch_up`](Self::catch_up), [`run_batch`](Self::run_batch) and
    /// [`rebuild`](Self::rebuild), driven by hand, do not take it (they still take turns
    /// with the other instances under the checkpoint's lock).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cqrs_core::lease::{LeaseConfig, LeaseStore};
    /// use cqrs_core::{RunningProjection, TransactionalProjection, TransactionalRunner, TransactionalStore};
    ///
    /// /// Starts a projection that may run in several replicas.
    /// fn start<S, P>(store: Arc<S>, projection: P) -> RunningProjection<P>
    /// where
    ///     S: TransactionalStore + LeaseStore,
    ///     P: TransactionalProjection<S::Connection>,
    /// {
    ///     TransactionalRunner::new(store, projection)
    ///         .with_lease(LeaseConfig::default())
    ///         .spawn()
    /// }
    /// ```
    pub fn with_lease(mut self, config: LeaseConfig) -> Self
    where
        S: LeaseStore,
    {
        let store: Arc<dyn LeaseStore> = self.store.clone();
        self.lease.keep_in(store, config);
        self
    }

    /// Takes the lease as `holder` instead of [`holder_id`](crate::lease::holder_id) (e.g.
    /// the pod's name), before or after [`with_lease`](Self::with_lease); no effect without it.
    pub fn with_lease_holder(mut self, holder: impl Into<Arc<str>>) -> Self {
        self.lease.hold_as(holder.into());
        self
    }

    /// Runs under `lease`, as one shard of a [`ShardedRunner`](crate::projection::shard::ShardedRunner).
    pub(in crate::projection) fn with_lease_setup(mut self, lease: LeaseSetup) -> Self {
        self.lease.set(lease);
        self
    }

    /// Sets the configuration: events per transaction, idle poll, backoff between retries.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The store and the projection, for a rebuild across shards.
    pub(in crate::projection) fn parts_mut(&mut self) -> (&Arc<S>, &mut P) {
        (&self.store, &mut self.projection)
    }

    /// Gives the projection back.
    pub fn into_projection(self) -> P {
        self.projection
    }

    /// Prepares a rebuild: clears the read model ([`TransactionalProjection::reset`]) and
    /// sets the checkpoint back to 0 in one transaction, taken under the checkpoint's lock
    /// (a runner of the same projection, here or in another process, waits for it or
    /// conflicts with it). The next [`catch_up`](Self::catch_up) or [`spawn`](Self::spawn),
    /// and every other runner's next batch, replays the whole log.
    ///
    /// On failure nothing changed: the read model and the checkpoint are as they were
    /// ([`RunnerError::Reset`] when the projection's reset failed, [`RunnerError::Store`]
    /// when the store did; neither is retried).
    pub async fn rebuild(&mut self) -> Result<(), RunnerError> {
        let name = self.projection.name().to_owned();
        batch::reset_checkpoints(
            &*self.store,
            &mut self.projection,
            &name,
            std::slice::from_ref(&name),
        )
        .await
    }

    /// Applies one batch in one transaction; returns the checkpoint after it and how many
    /// events it applied (0 when caught up). On a permanent failure of the projection, the
    /// events before the failing one are committed before the error is returned.
    pub async fn run_batch(&mut self) -> Result<(u64, usize), RunnerError> {
        match self.advance(1, None).await {
            Ok(Outcome::Applied(applied)) => Ok((applied.checkpoint, applied.events)),
            Ok(Outcome::Deposed) => unreachable!("an unfenced batch is never deposed"),
            Err(failed) => Err(failed.failure.error),
        }
    }

    /// Applies batches until nothing is left; returns the checkpoint reached. Stops at the
    /// first failure (see [`run_batch`](Self::run_batch)).
    pub async fn catch_up(&mut self) -> Result<u64, RunnerError> {
        loop {
            let (checkpoint, applied) = self.run_batch().await?;
            if applied == 0 {
                return Ok(checkpoint);
            }
        }
    }

    /// Runs in a background task, woken by new events, until
    /// [`shutdown`](crate::worker::Worker::shutdown), which gives the projection back.
    /// Failures are retried or stop the runner as described on [`TransactionalRunner`].
    pub fn spawn(self) -> RunningProjection<P> {
        let store = self.store.clone();
        let name = self.projection.name().to_owned();
        let initial = ProjectionProgress::start(self.lease.is_some());
        Worker::spawn(name, initial, move |ctx| self.run(ctx)).following(store)
    }

    /// One batch, try number `attempt`, fenced by `fence`; after a permanent failure of the
    /// projection, the events before the failing one are committed (`failure.committed`).
    async fn advance(&mut self, attempt: u32, fence: Option<&Lease>) -> Result<Outcome, Failure> {
        let scope = Scope {
            batch_size: self.config.batch_size,
            before: None,
            attempt,
            fence,
        };
        let failure = match batch::apply_next(&*self.store, &mut self.projection, scope).await {
            Ok(outcome) => return Ok(outcome),
            Err(failure) => failure,
        };
        let committed = match failure.poison {
            Some(position) if failure.kind == FailureKind::Permanent => {
                self.commit_before(position, fence).await
            }
            _ => None,
        };
        Err(Failure { failure, committed })
    }

    /// Before stopping at a permanently failing event: applies and commits the events of its
    /// batch that come before it, so the checkpoint stops right before the event the error
    /// names. A failure here is only logged: the runner stops either way, and the next run
    /// applies those events.
    async fn commit_before(&mut self, position: u64, fence: Option<&Lease>) -> Option<u64> {
        let scope = Scope {
            batch_size: self.config.batch_size,
            before: Some(position),
            attempt: 1,
            fence,
        };
        match batch::apply_next(&*self.store, &mut self.projection, scope).await {
            Ok(Outcome::Applied(applied)) => Some(applied.checkpoint),
            Ok(Outcome::Deposed) => None,
            Err(failure) => {
                tracing::warn!(projection = self.projection.name(), error = %failure.error, "cannot commit the events before the failing one");
                None
            }
        }
    }

    /// Follows the log until a shutdown; one requested while the runner waits to retry a
    /// failure (or stands by for its lease) is a graceful stop too (nothing after the
    /// checkpoint was committed). However it ends, it gives its lease up.
    async fn run(mut self, ctx: WorkerContext<ProjectionProgress>) -> Result<P, RunnerError> {
        let name = self.projection.name().to_owned();
        let mut lease = self.lease.take().map(|setup| setup.start(&name));
        let followed = self.follow(&ctx, &mut lease).await;
        if let Some(lease) = &mut lease {
            lease.release(&ctx).await;
        }
        crate::projection::gauges::forget(ctx.name());
        followed?;
        Ok(self.projection)
    }

    async fn follow(
        &mut self,
        ctx: &WorkerContext<ProjectionProgress>,
        lease: &mut Option<RunnerLease>,
    ) -> Result<(), RunnerError> {
        let mut stop = ctx.stop_signal();
        let mut wakeups = self.store.subscribe();
        let mut gauges = ProgressGauges::new(ctx.name());
        ctx.report_role(initial_role(lease));
        let idle = idle_wait(lease, self.config.idle_poll);
        let mut failures: u32 = 0;
        // The last checkpoint committed by this runner, for the lag while a batch fails.
        let mut known_checkpoint = None;
        while !ctx.stop_requested() {
            // The checkpoint is read in each batch's transaction: a runner that just took
            // the lease resumes where the previous holder committed.
            let held = match lease {
                None => None,
                Some(lease) => match lease.hold(ctx, &mut stop, &self.config.retry).await? {
                    Held::Stopped => break,
                    Held::Lease { lease, .. } => Some(lease),
                },
            };
            match self.advance(failures + 1, held.as_ref()).await {
                Ok(Outcome::Applied(applied)) => {
                    failures = 0;
                    known_checkpoint = Some(applied.checkpoint);
                    report(ctx, applied.checkpoint);
                    let full = applied.events >= self.config.batch_size;
                    gauges
                        .record(&*self.store, wakeups.head(), applied.checkpoint, full)
                        .await;
                    if applied.events == 0 {
                        tokio::select! {
                            () = stop_requested(&mut stop) => {}
                            _ = wakeups.wait_beyond(applied.checkpoint, idle) => {}
                        }
                    }
                }
                Ok(Outcome::Deposed) => {
                    failures = 0;
                    if let Some(lease) = lease {
                        lease.deposed(ctx);
                    }
                }
                Err(Failure { failure, committed }) => {
                    if let Some(checkpoint) = committed {
                        known_checkpoint = Some(checkpoint);
                        report(ctx, checkpoint);
                    }
                    if let Some(checkpoint) = known_checkpoint {
                        gauges
                            .record(&*self.store, wakeups.head(), checkpoint, false)
                            .await;
                    }
                    if failure.kind == FailureKind::Permanent {
                        return Err(failure.error);
                    }
                    failures = failures.saturating_add(1);
                    let delay = self.config.retry.backoff(failures);
                    tracing::warn!(projection = self.projection.name(), error = %failure.error, attempt = failures, retry_in = ?delay, "transactional batch failed transiently; retrying");
                    if sleep_or_stop(delay, &mut stop).await {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A failed batch, and the checkpoint committed after it (the events before a permanently
/// failing one), if any.
struct Failure {
    failure: BatchFailure,
    committed: Option<u64>,
}

/// Publishes `checkpoint` when it moved.
fn report(ctx: &WorkerContext<ProjectionProgress>, checkpoint: u64) {
    ctx.report_if(|progress| std::mem::replace(&mut progress.checkpoint, checkpoint) != checkpoint);
}
