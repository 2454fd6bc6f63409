//! Feeds a [`Projection`] from the global log, with checkpoints, retries, an optional lease
//! and shutdown. One file on purpose (a little over 400 lines): the loop, its checkpoint and
//! lease handling and its retries read top to bottom.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::Instrument;

use super::attempts::Attempts;
use super::event_span::event_span;
use super::gauges::ProgressGauges;
use super::lease::{idle_wait, initial_role, Held, LeaseChoice, LeaseSetup, RunnerLease};
use super::{
    Persistence, Projection, ProjectionProgress, RunnerConfig, RunnerError, RunningProjection,
};
use crate::envelope::RecordedEvent;
use crate::error::StoreError;
use crate::lease::{FencedWrite, Lease, LeaseConfig, LeaseStore};
use crate::store::EventStore;
use crate::worker::{sleep_or_stop, stop_requested, Worker, WorkerContext};

/// Reads the global log from a projection's checkpoint in batches, applies each event,
/// stores the checkpoint. See the [module docs](crate::projection) for the delivery
/// contract.
///
/// # Several replicas
/// Without a lease, every instance of the runner works: right for an in-memory
/// projection (each process needs its own view), wrong for a durable one (two replicas
/// would apply every event twice and write one checkpoint in turns). Give a durable
/// projection a lease ([`with_lease`](Self::with_lease)): then one spawned instance works
/// and the others stand by (see the [module docs](crate::projection#several-replicas)).
///
/// ```
/// # use async_trait::async_trait;
/// # use cqrs_core::*;
/// # #[derive(Default)] struct Count(u64);
/// # #[async_trait] impl Projection for Count {
/// #     type Error = std::convert::Infallible;
/// #     fn name(&self) -> &str { "count" }
/// #     fn persistence(&self) -> Persistence { Persistence::InMemory }
/// #     async fn apply(&mut self, _: &RecordedEvent) -> Result<(), Self::Error> { self.0 += 1; Ok(()) }
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::{sync::Arc, time::Duration};
/// let store = Arc::new(InMemoryEventStore::new());
/// let running = ProjectionRunner::new(store.clone(), Count::default()).spawn();
/// let e = NewEvent::raw("Pinged", 1, JsonPayload::parse("{}").unwrap());
/// store.append("Ping-1", ExpectedVersion::Any, vec![e], &Metadata::default()).await.unwrap();
/// running.wait_until_caught_up(Duration::from_secs(5)).await.unwrap();
/// let projection = running.shutdown().await.unwrap();
/// assert_eq!(projection.0, 1);
/// assert_eq!(store.load_checkpoint("count").await.unwrap(), Some(1));
/// # });
/// ```
pub struct ProjectionRunner<P: Projection, S: EventStore + ?Sized = dyn EventStore> {
    store: Arc<S>,
    projection: P,
    config: RunnerConfig,
    /// Set while spawned: ends a wait between transient retries.
    stop: Option<watch::Receiver<bool>>,
    /// The position this runner applied up to in this process, once it started.
    applied: Option<u64>,
    /// The lease a spawned runner works under, if any.
    lease: LeaseChoice,
    /// Set while spawned: the position and lag gauges.
    gauges: Option<ProgressGauges>,
}

/// How a batch ended.
enum BatchEnd {
    /// The checkpoint is stored at this position.
    Stored(u64),
    /// The fenced checkpoint write was refused: another instance holds the lease.
    Deposed,
}

impl<P: Projection, S: EventStore + ?Sized> ProjectionRunner<P, S> {
    /// A runner with the default [`RunnerConfig`].
    pub fn new(store: Arc<S>, projection: P) -> Self {
        Self {
            store,
            projection,
            config: RunnerConfig::default(),
            stop: None,
            applied: None,
            lease: LeaseChoice::default(),
            gauges: None,
        }
    }

    /// Runs the spawned runner under lease `leases`, named after the projection and taken
    /// as [`holder_id`](crate::lease::holder_id) (see
    /// [`with_lease_holder`](Self::with_lease_holder)), so that of several replicas only
    /// one works at a time and the others stand by.
    ///
    /// `leases` must be the store the runner reads and checkpoints (pass the same store,
    /// e.g. `store.clone()`): the checkpoint is written through it with
    /// [`LeaseStore::save_checkpoint_fenced`], so a runner that lost its lease while it
    /// applied a batch cannot store that batch's checkpoint (it is
    /// [`Deposed`](crate::lease::FencedWrite::Deposed): it drops the batch's progress and
    /// stands by; a new holder applies those events again, at least once as always).
    ///
    /// Only for [`Persistence::Durable`] projections: a spawned runner of an in-memory one
    /// with a lease stops at once with [`RunnerError::LeaseOnInMemory`]. The lease governs
    /// [`spawn`](Self::spawn) only; [`catch_up`](Self::catch_up) and
    /// [`rebuild`](Self::rebuild), driven by hand, do not take it.
    ///
    /// ```
    /// # use async_trait::async_trait;
    /// # use cqrs_core::*;
    /// # #[derive(Default)] struct Totals;
    /// # #[async_trait] impl Projection for Totals {
    /// #     type Error = std::convert::Infallible;
    /// #     fn name(&self) -> &str { "totals" }
    /// #     fn persistence(&self) -> Persistence { Persistence::Durable }
    /// #     async fn apply(&mut self, _: &RecordedEvent) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// use std::{sync::Arc, time::Duration};
    /// use cqrs_core::lease::LeaseConfig;
    /// use cqrs_core::worker::LeaseRole;
    ///
    /// let store = Arc::new(InMemoryEventStore::new());
    /// let running = ProjectionRunner::new(store.clone(), Totals)
    ///     .with_lease(store.clone(), LeaseConfig::default())
    ///     .spawn();
    /// let progress = running.wait_for(Duration::from_secs(5), |p| p.role == LeaseRole::Leader).await.unwrap();
    /// assert_eq!(progress.role, LeaseRole::Leader);
    /// running.shutdown().await.unwrap(); // gives the lease up for a standby
    /// # });
    /// ```
    pub fn with_lease(mut self, leases: Arc<dyn LeaseStore>, config: LeaseConfig) -> Self {
        self.lease.keep_in(leases, config);
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

    /// Sets the configuration.
    pub fn with_config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Gives the projection back.
    pub fn into_projection(self) -> P {
        self.projection
    }

    /// Prepares a rebuild: clears the read model ([`Projection::reset`]) and sets the
    /// checkpoint back to 0, so the next run replays the whole log.
    pub async fn rebuild(&mut self) -> Result<(), RunnerError> {
        self.applied = Some(0);
        let name = self.projection.name().to_owned();
        self.projection
            .reset()
            .await
            .map_err(|e| RunnerError::Reset {
                projection: name.clone(),
                source: Box::new(e),
            })?;
        self.store
            .save_checkpoint(&name, 0)
            .await
            .map_err(|source| RunnerError::Store {
                projection: name,
                source,
            })
    }

    /// Processes everything currently visible and returns the checkpoint reached.
    pub async fn catch_up(&mut self) -> Result<u64, RunnerError> {
        let mut checkpoint = self.load_checkpoint().await?;
        loop {
            let batch = self.read_batch(checkpoint).await?;
            if batch.is_empty() {
                return Ok(checkpoint);
            }
            checkpoint = match self.apply_batch(&batch, checkpoint, None).await? {
                BatchEnd::Stored(checkpoint) => checkpoint,
                BatchEnd::Deposed => unreachable!("an unfenced write is never deposed"),
            };
        }
    }

    /// Runs the projection in a background task until [`RunningProjection::shutdown`].
    pub fn spawn(self) -> RunningProjection<P> {
        let store = self.store.clone();
        let name = self.projection.name().to_owned();
        let initial = ProjectionProgress::start(self.lease.is_some());
        Worker::spawn(name, initial, move |ctx| self.run(ctx)).following(store)
    }

    /// Follows the log until a shutdown; a shutdown that arrives while the runner waits to
    /// retry a failure (or stands by for its lease) is a graceful stop too (nothing after
    /// the checkpoint was applied). However it ends, it gives its lease up.
    async fn run(mut self, ctx: WorkerContext<ProjectionProgress>) -> Result<P, RunnerError> {
        let name = self.projection.name().to_owned();
        let mut lease = match self.lease.take() {
            Some(_) if self.projection.persistence() == Persistence::InMemory => {
                return Err(RunnerError::LeaseOnInMemory { projection: name });
            }
            setup => setup.map(|setup| setup.start(&name)),
        };
        let followed = self.follow(&ctx, &mut lease).await;
        if let Some(lease) = &mut lease {
            lease.release(&ctx).await;
        }
        super::gauges::forget(ctx.name());
        match followed {
            Ok(()) | Err(RunnerError::Stopped { .. }) => Ok(self.projection),
            Err(error) => Err(error),
        }
    }

    async fn follow(
        &mut self,
        ctx: &WorkerContext<ProjectionProgress>,
        lease: &mut Option<RunnerLease>,
    ) -> Result<(), RunnerError> {
        let mut stop = ctx.stop_signal();
        self.stop = Some(stop.clone());
        let mut wakeups = self.store.subscribe();
        self.gauges = Some(ProgressGauges::new(ctx.name()));
        let mut checkpoint = 0;
        ctx.report_role(initial_role(lease));
        if lease.is_none() {
            checkpoint = self.load_checkpoint().await?;
            ctx.report(|p| p.checkpoint = checkpoint);
        }
        let idle = idle_wait(lease, self.config.idle_poll);
        while !*stop.borrow() {
            let held = match lease {
                None => None,
                Some(lease) => match lease.hold(ctx, &mut stop, &self.config.retry).await? {
                    Held::Stopped => break,
                    Held::Lease { lease: held, taken } => {
                        if taken {
                            // Another instance may have moved the checkpoint meanwhile.
                            self.applied = None;
                            checkpoint = self.load_checkpoint().await?;
                            ctx.report(|p| p.checkpoint = checkpoint);
                        }
                        Some((lease.store().clone(), held))
                    }
                },
            };
            let batch = self.read_batch(checkpoint).await?;
            if batch.is_empty() {
                self.record_progress(wakeups.head(), checkpoint, false)
                    .await;
                tokio::select! {
                    () = stop_requested(&mut stop) => {}
                    _ = wakeups.wait_beyond(checkpoint, idle) => {}
                }
                continue;
            }
            let fence = held.as_ref().map(|(store, lease)| (&**store, lease));
            match self.apply_batch(&batch, checkpoint, fence).await? {
                BatchEnd::Stored(stored) => {
                    checkpoint = stored;
                    ctx.report(|p| p.checkpoint = checkpoint);
                    let full = batch.len() >= self.config.batch_size;
                    self.record_progress(wakeups.head(), checkpoint, full).await;
                }
                BatchEnd::Deposed => {
                    if let Some(lease) = lease {
                        lease.deposed(ctx);
                    }
                }
            }
        }
        Ok(())
    }

    /// Where to start: where this runner got to in this process; else, for a durable
    /// projection, its stored checkpoint; else the beginning of the log.
    async fn load_checkpoint(&mut self) -> Result<u64, RunnerError> {
        if let Some(applied) = self.applied {
            return Ok(applied);
        }
        let name = self.projection.name();
        let stored = self
            .with_store_retry(|| self.store.load_checkpoint(name))
            .await?
            .unwrap_or(0);
        let start = match self.projection.persistence() {
            Persistence::Durable => stored,
            Persistence::InMemory => {
                if stored > 0 {
                    tracing::info!(
                        projection = name,
                        stored_checkpoint = stored,
                        "in-memory projection: replaying the log from the start, not from the checkpoint an earlier process stored"
                    );
                }
                0
            }
        };
        self.applied = Some(start);
        Ok(start)
    }

    async fn read_batch(&self, checkpoint: u64) -> Result<Vec<RecordedEvent>, RunnerError> {
        self.with_store_retry(|| self.store.read_all(checkpoint + 1, self.config.batch_size))
            .await
    }

    /// Applies a batch and stores the checkpoint (fenced by `lease` when given); on failure
    /// stores the checkpoint up to the last applied event before reporting. Deposed: the
    /// batch's progress is dropped (a failure too: the new holder meets it itself).
    async fn apply_batch(
        &mut self,
        batch: &[RecordedEvent],
        mut checkpoint: u64,
        fence: Option<(&dyn LeaseStore, &Lease)>,
    ) -> Result<BatchEnd, RunnerError> {
        let mut failure = None;
        // A full batch is a catch-up: no spans for it (see event_span).
        let live = batch.len() < self.config.batch_size;
        for event in batch {
            let span = (live && self.projection.applies_to(event))
                .then(|| event_span(self.projection.name(), event))
                .flatten();
            let applied = match span {
                Some(span) => {
                    self.apply_with_retry(event, checkpoint)
                        .instrument(span)
                        .await
                }
                None => self.apply_with_retry(event, checkpoint).await,
            };
            if let Err(error) = applied {
                failure = Some(error);
                break;
            }
            checkpoint = event.position;
        }
        self.applied = Some(checkpoint);
        let name = self.projection.name();
        match fence {
            None => {
                self.with_store_retry(|| self.store.save_checkpoint(name, checkpoint))
                    .await?
            }
            Some((leases, lease)) => {
                let written = self
                    .with_store_retry(|| leases.save_checkpoint_fenced(name, checkpoint, lease))
                    .await?;
                if written == FencedWrite::Deposed {
                    tracing::warn!(projection = name, checkpoint, token = lease.token, "checkpoint refused: another instance took the lease; dropping this batch's progress");
                    return Ok(BatchEnd::Deposed);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(BatchEnd::Stored(checkpoint)),
        }
    }

    /// Records the gauges (a spawned runner's): `checkpoint` against the announced head.
    async fn record_progress(&mut self, announced: u64, checkpoint: u64, full_batch: bool) {
        if let Some(gauges) = &mut self.gauges {
            gauges
                .record(&*self.store, announced, checkpoint, full_batch)
                .await;
        }
    }

    /// Applies `event`, retrying transient failures; `checkpoint` is where the runner is
    /// (for the lag gauge, kept up to date while a failing event holds the runner).
    async fn apply_with_retry(
        &mut self,
        event: &RecordedEvent,
        checkpoint: u64,
    ) -> Result<(), RunnerError> {
        let mut attempts = Attempts::default();
        loop {
            let error = match self.projection.apply(event).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let kind = self.projection.failure_kind(&error);
            let Some(attempt) = attempts.failed(kind, &self.config.retry) else {
                return Err(RunnerError::Projection {
                    projection: self.projection.name().to_owned(),
                    position: event.position,
                    stream: event.stream_id.to_string(),
                    event_type: event.event_type.to_string(),
                    attempts: attempts.total(),
                    source: Box::new(error),
                });
            };
            tracing::warn!(
                projection = self.projection.name(),
                position = event.position,
                %error,
                %kind,
                attempt,
                "projection failed, retrying"
            );
            let announced = self.store.subscribe().head();
            self.record_progress(announced, checkpoint, false).await;
            self.pause(attempt).await?;
        }
    }

    async fn with_store_retry<T, F, Fut>(&self, mut call: F) -> Result<T, RunnerError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut attempts = Attempts::default();
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(attempt) = attempts.failed(error.kind(), &self.config.retry) else {
                return Err(RunnerError::Store {
                    projection: self.projection.name().to_owned(),
                    source: error,
                });
            };
            tracing::warn!(projection = self.projection.name(), %error, kind = %error.kind(), attempt, "store failed, retrying");
            self.pause(attempt).await?;
        }
    }

    /// Waits the backoff after failed attempt `attempt`; a shutdown requested meanwhile
    /// ends the wait with [`RunnerError::Stopped`].
    async fn pause(&self, attempt: u32) -> Result<(), RunnerError> {
        let delay = self.config.retry.backoff(attempt);
        let Some(stop) = &self.stop else {
            tokio::time::sleep(delay).await;
            return Ok(());
        };
        if sleep_or_stop(delay, &mut stop.clone()).await {
            return Err(RunnerError::Stopped {
                projection: self.projection.name().to_owned(),
                reason: "shut down while retrying a failure".into(),
            });
        }
        Ok(())
    }
}
