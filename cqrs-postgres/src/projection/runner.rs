//! Runs a [`TransactionalProjection`]: batch by batch, each in one transaction with its
//! checkpoint.

use std::sync::Arc;

use cqrs_core::worker::{Worker, WorkerContext};
use cqrs_core::{
    EventStore, FailureKind, ProjectionProgress, RunnerConfig, RunnerError, RunningProjection,
    StoreError,
};
use tokio::sync::watch;

use super::TransactionalProjection;
use crate::error::map_sqlx;
use crate::store::{checkpoints, read, PgEventStore};

/// Feeds a [`TransactionalProjection`] from the global log.
///
/// Each batch runs in one transaction: lock the checkpoint row (`FOR UPDATE` semantics,
/// creating it at 0), read the next events after it through the gap-safe reader, apply
/// them, store the new checkpoint, commit. A failure rolls everything back, so the read
/// model has applied every committed event exactly once. Events at or below the locked
/// checkpoint are never applied, so two runners of one projection (say, during a rolling
/// deploy) take turns instead of applying events twice.
///
/// ```no_run
/// # use cqrs_postgres::*;
/// # async fn doc<P: TransactionalProjection>(store: PgEventStore, projection: P) -> Result<(), Box<dyn std::error::Error>> {
/// let mut runner = TransactionalRunner::new(store, projection);
/// let checkpoint = runner.catch_up().await?;
/// # Ok(()) }
/// ```
pub struct TransactionalRunner<P: TransactionalProjection> {
    store: PgEventStore,
    projection: P,
    config: RunnerConfig,
}

impl<P: TransactionalProjection> TransactionalRunner<P> {
    /// A runner with the default [`RunnerConfig`].
    pub fn new(store: PgEventStore, projection: P) -> Self {
        Self {
            store,
            projection,
            config: RunnerConfig::default(),
        }
    }

    /// Sets the configuration (batch size, idle poll, retries of a failing batch).
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

    /// Applies one batch in one transaction; returns the checkpoint after it and how many
    /// events it applied (0 when caught up).
    pub async fn run_batch(&mut self) -> Result<(u64, usize), RunnerError> {
        self.apply_next(None).await.map_err(|failure| failure.error)
    }

    /// One batch in one transaction, of the events after the checkpoint and, with
    /// `before`, below that position only.
    async fn apply_next(&mut self, before: Option<u64>) -> Result<(u64, usize), BatchFailure> {
        let name = self.projection.name().to_owned();
        let store_error = |source: StoreError| BatchFailure {
            kind: source.kind(),
            poison: None,
            error: RunnerError::Store {
                projection: name.clone(),
                source,
            },
        };
        let sql = self.store.statements();
        let mut tx = self
            .store
            .pool()
            .begin()
            .await
            .map_err(|e| store_error(map_sqlx("begin", e)))?;
        let locked: i64 = sqlx::query_scalar(&sql.lock_checkpoint)
            .bind(&name)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| store_error(map_sqlx("lock_checkpoint", e)))?;
        let checkpoint = u64::try_from(locked).map_err(|_| {
            store_error(StoreError::Corrupt(format!(
                "negative checkpoint {locked} of projection `{name}`"
            )))
        })?;
        let mut batch = read::read_all(
            &mut *tx,
            &sql.read_all,
            checkpoint + 1,
            self.config.batch_size,
        )
        .await
        .map_err(store_error)?;
        if let Some(before) = before {
            batch.retain(|event| event.position < before);
        }
        let Some(last) = batch.last().map(|e| e.position) else {
            // Nothing to do; release the lock without writing.
            let _ = tx.rollback().await;
            return Ok((checkpoint, 0));
        };
        for event in &batch {
            if let Err(error) = self.projection.apply(event, &mut tx).await {
                let _ = tx.rollback().await;
                return Err(BatchFailure {
                    kind: self.projection.failure_kind(&error),
                    poison: Some(event.position),
                    error: RunnerError::Projection {
                        projection: name,
                        position: event.position,
                        stream: event.stream_id.to_string(),
                        event_type: event.event_type.to_string(),
                        attempts: 1,
                        source: Box::new(error),
                    },
                });
            }
        }
        checkpoints::save(&mut *tx, &sql.save_checkpoint, &name, last)
            .await
            .map_err(store_error)?;
        tx.commit()
            .await
            .map_err(|e| store_error(map_sqlx("commit", e)))?;
        tracing::debug!(projection = %name, checkpoint = last, events = batch.len(), "transactional batch committed");
        Ok((last, batch.len()))
    }

    /// Applies batches until nothing is left; returns the checkpoint reached.
    pub async fn catch_up(&mut self) -> Result<u64, RunnerError> {
        loop {
            let (checkpoint, applied) = self.run_batch().await?;
            if applied == 0 {
                return Ok(checkpoint);
            }
        }
    }

    /// Runs in a background task, woken by new events, until
    /// [`RunningTransactionalProjection::shutdown`].
    ///
    /// Failures are classified ([`TransactionalProjection::failure_kind`] for the
    /// projection's, [`StoreError::kind`] for the store's):
    /// - **transient** (connection lost, timeout, serialization failure): the batch is
    ///   retried with the config's retry backoff for as long as the failure lasts, never
    ///   skipped (a shutdown ends the wait);
    /// - **permanent** (the projection's write is refused for good: a NUL in text, a key
    ///   over the index limit, a decode error): retrying cannot help and skipping would
    ///   lose the event silently (a log-fed projection has no dead-letter topic). The
    ///   runner commits the batch's events before the failing one, then stops at once with
    ///   [`RunnerError::Projection`] naming the event's position, stream and type. The
    ///   stop is visible through [`RunningProjection::state`] (failed, with that text) and
    ///   the checkpoint stays right before the event: fix the projection (or the data) and
    ///   start the runner again.
    pub fn spawn(self) -> RunningTransactionalProjection<P> {
        let name = self.projection.name().to_owned();
        let store = Arc::new(self.store.clone());
        Worker::spawn(name, ProjectionProgress::default(), move |ctx| {
            self.run(ctx)
        })
        .following(store)
    }

    async fn run(mut self, ctx: WorkerContext<ProjectionProgress>) -> Result<P, RunnerError> {
        let mut stop = ctx.stop_signal();
        self.run_loop(&ctx, &mut stop).await?;
        Ok(self.projection)
    }

    async fn run_loop(
        &mut self,
        progress: &WorkerContext<ProjectionProgress>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RunnerError> {
        let mut wakeups = self.store.subscribe();
        let mut failures = 0;
        while !*stop.borrow() {
            match self.apply_next(None).await {
                Ok((checkpoint, applied)) => {
                    failures = 0;
                    progress.report(|p| p.checkpoint = checkpoint);
                    if applied == 0 {
                        tokio::select! {
                            _ = stop.changed() => {}
                            _ = wakeups.wait_beyond(checkpoint, self.config.idle_poll) => {}
                        }
                    }
                }
                Err(BatchFailure {
                    kind: FailureKind::Permanent,
                    poison,
                    error,
                }) => {
                    if let Some(position) = poison {
                        self.commit_before(position, progress).await;
                    }
                    tracing::error!(projection = self.projection.name(), %error, "permanent failure; the runner stops without retrying");
                    return Err(error);
                }
                Err(BatchFailure { error, .. }) => {
                    failures += 1;
                    tracing::warn!(projection = self.projection.name(), %error, attempt = failures, "batch failed, retrying");
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = tokio::time::sleep(self.config.retry.backoff(failures)) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Before stopping at a permanently failing event: applies and commits the events of
    /// its batch that come before it, so the checkpoint stops right before the event the
    /// error names. A failure here is only logged: the runner stops either way, and the
    /// events are applied by the next run.
    async fn commit_before(&mut self, position: u64, progress: &WorkerContext<ProjectionProgress>) {
        match self.apply_next(Some(position)).await {
            Ok((checkpoint, _)) => progress.report(|p| p.checkpoint = checkpoint),
            Err(failure) => tracing::warn!(
                projection = self.projection.name(),
                error = %failure.error,
                "cannot commit the events before the failing one"
            ),
        }
    }
}

/// Why a batch failed, and whether retrying it can help.
struct BatchFailure {
    error: RunnerError,
    kind: FailureKind,
    /// The event the projection failed on, if it did.
    poison: Option<u64>,
}

/// A [`TransactionalRunner`] running in a background task: the same handle as core's
/// runners (checkpoint, waits, graceful shutdown).
pub type RunningTransactionalProjection<P> = RunningProjection<P>;
