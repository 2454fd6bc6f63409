//! Feeds a [`Projection`] from the global log, with checkpoints, retries and shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Persistence, Projection};
use crate::command::RetryPolicy;
use crate::envelope::RecordedEvent;
use crate::error::{BoxError, StoreError};
use crate::failure::FailureKind;
use crate::store::EventStore;
use crate::worker::{sleep_or_stop, stop_requested, LogProgress, Worker, WorkerContext};

/// Tuning of a [`ProjectionRunner`].
///
/// Failures are classified ([`FailureKind`]): a transient store failure
/// ([`StoreError::kind`]) or a transient projection failure ([`Projection::failure_kind`])
/// is retried with `retry`'s backoff for as long as it lasts, without skipping the event; a
/// permanent one is retried `retry.max_attempts` times in all, then the runner stops at
/// that position with the error (nothing is skipped: the log is the source of truth, and a
/// projection that cannot apply one of its events needs a fix, not a gap).
///
/// The [`TransactionalRunner`](super::TransactionalRunner) takes the same configuration,
/// `batch_size` being the events per transaction; it does not retry a permanent failure
/// (the rolled-back batch would fail the same way), so it uses `retry` for its backoff only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Events read per batch; the checkpoint is stored after each batch. Default 500.
    pub batch_size: usize,
    /// Fallback poll interval when no wake-up arrives. Default 1 s.
    pub idle_poll: Duration,
    /// Attempts for a permanently failing event or store call before the runner stops, and
    /// the backoff between all retries. Default 3 attempts, 10 ms doubling to 1 s.
    pub retry: RetryPolicy,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            idle_poll: Duration::from_secs(1),
            retry: RetryPolicy::attempts(3)
                .with_backoff(Duration::from_millis(10), Duration::from_secs(1)),
        }
    }
}

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

/// How far a projection runner got: the checkpoint it stored last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectionProgress {
    /// Every event up to this position is applied and the checkpoint stored.
    pub checkpoint: u64,
}

impl LogProgress for ProjectionProgress {
    fn log_position(&self) -> u64 {
        self.checkpoint
    }
}

/// A projection running in a background task: the one [`Worker`] handle, with the
/// projection back from [`shutdown`](Worker::shutdown) and [`RunnerError`] when it stopped
/// for good. Returned by the [`ProjectionRunner`] and the
/// [`TransactionalRunner`](super::TransactionalRunner) alike.
pub type RunningProjection<P> = Worker<ProjectionProgress, P, RunnerError>;

/// Reads the global log from a projection's checkpoint in batches, applies each event,
/// stores the checkpoint. See the [module docs](crate::projection) for the delivery
/// contract.
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
        }
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
            checkpoint = self.apply_batch(&batch, checkpoint).await?;
        }
    }

    /// Runs the projection in a background task until [`RunningProjection::shutdown`].
    pub fn spawn(self) -> RunningProjection<P> {
        let store = self.store.clone();
        let name = self.projection.name().to_owned();
        Worker::spawn(name, ProjectionProgress::default(), move |ctx| {
            self.run(ctx)
        })
        .following(store)
    }

    /// Follows the log until a shutdown; a shutdown that arrives while the runner waits to
    /// retry a failure is a graceful stop too (nothing after the checkpoint was applied).
    async fn run(mut self, ctx: WorkerContext<ProjectionProgress>) -> Result<P, RunnerError> {
        match self.follow(&ctx).await {
            Ok(()) | Err(RunnerError::Stopped { .. }) => Ok(self.projection),
            Err(error) => Err(error),
        }
    }

    async fn follow(&mut self, ctx: &WorkerContext<ProjectionProgress>) -> Result<(), RunnerError> {
        let mut stop = ctx.stop_signal();
        self.stop = Some(stop.clone());
        let mut wakeups = self.store.subscribe();
        let mut checkpoint = self.load_checkpoint().await?;
        ctx.report(|p| p.checkpoint = checkpoint);
        while !*stop.borrow() {
            let batch = self.read_batch(checkpoint).await?;
            if batch.is_empty() {
                tokio::select! {
                    () = stop_requested(&mut stop) => {}
                    _ = wakeups.wait_beyond(checkpoint, self.config.idle_poll) => {}
                }
                continue;
            }
            checkpoint = self.apply_batch(&batch, checkpoint).await?;
            ctx.report(|p| p.checkpoint = checkpoint);
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

    /// Applies a batch and stores the checkpoint; on failure stores the checkpoint up to
    /// the last applied event before reporting.
    async fn apply_batch(
        &mut self,
        batch: &[RecordedEvent],
        mut checkpoint: u64,
    ) -> Result<u64, RunnerError> {
        let mut failure = None;
        for event in batch {
            if let Err(error) = self.apply_with_retry(event).await {
                failure = Some(error);
                break;
            }
            checkpoint = event.position;
        }
        self.applied = Some(checkpoint);
        let name = self.projection.name();
        self.with_store_retry(|| self.store.save_checkpoint(name, checkpoint))
            .await?;
        match failure {
            Some(error) => Err(error),
            None => Ok(checkpoint),
        }
    }

    async fn apply_with_retry(&mut self, event: &RecordedEvent) -> Result<(), RunnerError> {
        let (mut permanent, mut transient) = (0, 0);
        loop {
            let error = match self.projection.apply(event).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let kind = self.projection.failure_kind(&error);
            match kind {
                FailureKind::Transient => transient += 1,
                FailureKind::Permanent => permanent += 1,
            }
            if permanent >= self.config.retry.max_attempts {
                return Err(RunnerError::Projection {
                    projection: self.projection.name().to_owned(),
                    position: event.position,
                    stream: event.stream_id.to_string(),
                    event_type: event.event_type.to_string(),
                    attempts: permanent + transient,
                    source: Box::new(error),
                });
            }
            let attempt = permanent.max(transient);
            tracing::warn!(
                projection = self.projection.name(),
                position = event.position,
                %error,
                %kind,
                attempt,
                "projection failed, retrying"
            );
            self.pause(attempt).await?;
        }
    }

    async fn with_store_retry<T, F, Fut>(&self, mut call: F) -> Result<T, RunnerError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let (mut permanent, mut transient) = (0, 0);
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match error.kind() {
                FailureKind::Transient => transient += 1,
                FailureKind::Permanent => permanent += 1,
            }
            if permanent >= self.config.retry.max_attempts {
                return Err(RunnerError::Store {
                    projection: self.projection.name().to_owned(),
                    source: error,
                });
            }
            let attempt = permanent.max(transient);
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
