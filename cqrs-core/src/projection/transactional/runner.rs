//! [`TransactionalRunner`]: feeds a [`TransactionalProjection`] from the global log, one
//! transaction per batch, in the background or by hand.

use std::sync::Arc;

use super::batch::{self, Applied, BatchFailure};
use super::{TransactionalProjection, TransactionalStore};
use crate::failure::FailureKind;
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
        }
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
        batch::reset(&*self.store, &mut self.projection).await
    }

    /// Applies one batch in one transaction; returns the checkpoint after it and how many
    /// events it applied (0 when caught up). On a permanent failure of the projection, the
    /// events before the failing one are committed before the error is returned.
    pub async fn run_batch(&mut self) -> Result<(u64, usize), RunnerError> {
        let applied = self
            .advance(1)
            .await
            .map_err(|failed| failed.failure.error)?;
        Ok((applied.checkpoint, applied.events))
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
        Worker::spawn(name, ProjectionProgress::default(), move |ctx| {
            self.run(ctx)
        })
        .following(store)
    }

    /// One batch, try number `attempt`; after a permanent failure of the projection, the
    /// events before the failing one are committed (`failure.committed`).
    async fn advance(&mut self, attempt: u32) -> Result<Applied, Failure> {
        let batch_size = self.config.batch_size;
        let failure = match batch::apply_next(
            &*self.store,
            &mut self.projection,
            batch_size,
            None,
            attempt,
        )
        .await
        {
            Ok(applied) => return Ok(applied),
            Err(failure) => failure,
        };
        let committed = match failure.poison {
            Some(position) if failure.kind == FailureKind::Permanent => {
                self.commit_before(position).await
            }
            _ => None,
        };
        Err(Failure { failure, committed })
    }

    /// Before stopping at a permanently failing event: applies and commits the events of its
    /// batch that come before it, so the checkpoint stops right before the event the error
    /// names. A failure here is only logged: the runner stops either way, and the next run
    /// applies those events.
    async fn commit_before(&mut self, position: u64) -> Option<u64> {
        let batch_size = self.config.batch_size;
        match batch::apply_next(
            &*self.store,
            &mut self.projection,
            batch_size,
            Some(position),
            1,
        )
        .await
        {
            Ok(applied) => Some(applied.checkpoint),
            Err(failure) => {
                tracing::warn!(projection = self.projection.name(), error = %failure.error, "cannot commit the events before the failing one");
                None
            }
        }
    }

    /// Follows the log until a shutdown; one requested while the runner waits to retry a
    /// failure is a graceful stop too (nothing after the checkpoint was committed).
    async fn run(mut self, ctx: WorkerContext<ProjectionProgress>) -> Result<P, RunnerError> {
        self.follow(&ctx).await?;
        Ok(self.projection)
    }

    async fn follow(&mut self, ctx: &WorkerContext<ProjectionProgress>) -> Result<(), RunnerError> {
        let mut stop = ctx.stop_signal();
        let mut wakeups = self.store.subscribe();
        let mut failures: u32 = 0;
        while !ctx.stop_requested() {
            match self.advance(failures + 1).await {
                Ok(applied) => {
                    failures = 0;
                    report(ctx, applied.checkpoint);
                    if applied.events == 0 {
                        tokio::select! {
                            () = stop_requested(&mut stop) => {}
                            _ = wakeups.wait_beyond(applied.checkpoint, self.config.idle_poll) => {}
                        }
                    }
                }
                Err(Failure { failure, committed }) => {
                    if let Some(checkpoint) = committed {
                        report(ctx, checkpoint);
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
