//! The [`Worker`] handle: spawn, progress, waits, shutdown, abort.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::context::WorkerContext;
use super::errors::{CatchUpError, ShutdownError, WaitError};
use super::processed::ProcessedPosition;
use super::state::{WorkerState, WorkerStateReporter, WorkerStateWatch};
use super::wait::{wait_for_progress, WaitOutcome};
use crate::error::StoreError;
use crate::store::EventStore;

/// Progress measured in positions of a store's global log (a projection's checkpoint, a
/// relay's acknowledged position), so that a wait can compare it with the log's head.
pub trait LogProgress {
    /// The position up to which everything is done.
    fn log_position(&self) -> u64;
}

impl LogProgress for u64 {
    fn log_position(&self) -> u64 {
        *self
    }
}

/// A background worker: its task, its progress `P`, and what it ends with (`T` when asked
/// to stop, `E` when it stopped for good on its own).
///
/// Dropping the handle leaves the worker running (detached); [`shutdown`](Worker::shutdown)
/// stops it gracefully, [`abort`](Worker::abort) kills it as a crash would.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use cqrs_core::worker::{Worker, WorkerState};
///
/// // Counts until asked to stop, then returns how far it got.
/// let worker = Worker::spawn("counter", 0u64, |ctx| async move {
///     let mut n = 0;
///     while !ctx.stop_requested() {
///         n += 1;
///         ctx.report(|p| *p = n);
///         tokio::time::sleep(Duration::from_millis(1)).await;
///     }
///     Ok::<_, std::io::Error>(n)
/// });
/// let seen = worker.wait_for(Duration::from_secs(5), |n| *n >= 3).await.unwrap();
/// assert!(seen >= 3);
/// assert_eq!(worker.state().current(), WorkerState::Running);
/// let counted = worker.shutdown().await.unwrap();
/// assert!(counted >= 3);
/// # });
/// ```
pub struct Worker<P, T, E> {
    name: Arc<str>,
    progress: watch::Receiver<P>,
    state: WorkerStateWatch,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<T, E>>,
    log: Option<LogHead>,
}

/// Reads the head of the log a worker follows.
type LogHead =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<u64, StoreError>> + Send + Sync>;

impl<P, T, E> Worker<P, T, E>
where
    P: Clone + Send + Sync + 'static,
    T: Send + 'static,
    E: Display + Send + 'static,
{
    /// Spawns `run` on the Tokio runtime with its [`WorkerContext`]; `initial` is the
    /// progress waiters see until the task reports. A failure (`Err`) is logged at error
    /// level under the worker's `name`.
    pub fn spawn<F, Fut>(name: impl Into<Arc<str>>, initial: P, run: F) -> Self
    where
        F: FnOnce(WorkerContext<P>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let name = name.into();
        let (progress_tx, progress) = watch::channel(initial);
        let (stop, stop_rx) = watch::channel(false);
        let (reporter, state) = WorkerStateReporter::named(name.clone());
        let running = run(WorkerContext::new(name.clone(), progress_tx, stop_rx));
        let task_name = name.clone();
        let task = tokio::spawn(async move {
            let result = running.await;
            if let Err(error) = &result {
                tracing::error!(worker = %task_name, %error, "worker stopped for good");
            }
            reporter.finished(&result);
            result
        });
        Self {
            name,
            progress,
            state,
            stop,
            task,
            log: None,
        }
    }

    /// Records that the worker follows `store`'s global log, for
    /// [`wait_until_caught_up`](Worker::wait_until_caught_up).
    pub fn following<S: EventStore + ?Sized>(mut self, store: Arc<S>) -> Self {
        self.log = Some(Arc::new(move || {
            let store = store.clone();
            Box::pin(async move { store.head_position().await })
        }));
        self
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The progress now.
    pub fn progress(&self) -> P {
        self.progress.borrow().clone()
    }

    /// Follows the progress.
    pub fn watch(&self) -> watch::Receiver<P> {
        self.progress.clone()
    }

    /// Follows whether the worker runs, and why it stopped.
    pub fn state(&self) -> WorkerStateWatch {
        self.state.clone()
    }

    /// Waits until `reached` holds for the progress, the worker stops, or `timeout` passes.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        reached: impl Fn(&P) -> bool,
    ) -> Result<P, WaitError<P>> {
        match wait_for_progress(&self.progress, timeout, reached).await {
            WaitOutcome::Reached(progress) => Ok(progress),
            WaitOutcome::Stopped(progress) => {
                // The task dropped its context just before it reports how it ended.
                let state = self.state.clone().stopped().await;
                Err(WaitError::Stopped {
                    worker: self.name.clone(),
                    reason: stop_reason(&state),
                    progress,
                })
            }
            WaitOutcome::TimedOut(progress) => Err(WaitError::TimedOut {
                worker: self.name.clone(),
                waited: timeout,
                progress,
            }),
        }
    }

    /// Waits until the worker has done everything committed to its log before this call
    /// (for tests and read-your-writes).
    pub async fn wait_until_caught_up(&self, timeout: Duration) -> Result<P, CatchUpError<P>>
    where
        P: LogProgress,
    {
        let Some(log) = &self.log else {
            return Err(CatchUpError::NoLog {
                worker: self.name.clone(),
            });
        };
        let head = log().await.map_err(|source| CatchUpError::Store {
            worker: self.name.clone(),
            source,
        })?;
        Ok(self.wait_for_position(head, timeout).await?)
    }

    /// Waits until the worker's progress reaches `position` of its log.
    pub async fn wait_for_position(
        &self,
        position: u64,
        timeout: Duration,
    ) -> Result<P, WaitError<P>>
    where
        P: LogProgress,
    {
        self.wait_for(timeout, |p| p.log_position() >= position)
            .await
    }

    /// How far the worker got in its log ([`LogProgress::log_position`]), as a handle a
    /// query can keep and wait on ([`ProcessedPosition::wait_for`]); named like the worker.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use cqrs_core::worker::Worker;
    ///
    /// let worker = Worker::spawn("view", 0u64, |ctx| async move {
    ///     ctx.report(|p| *p = 3);
    ///     std::future::pending::<Result<(), String>>().await
    /// });
    /// let processed = worker.processed_position();
    /// assert_eq!(processed.wait_for(3, Duration::from_secs(5)).await, Ok(3));
    /// # });
    /// ```
    pub fn processed_position(&self) -> ProcessedPosition
    where
        P: LogProgress,
    {
        ProcessedPosition::from_watch(self.name.clone(), self.progress.clone())
    }

    /// Asks the worker to stop and waits for it: its output if it stopped as asked, its
    /// error if it had stopped for good before.
    pub async fn shutdown(self) -> Result<T, ShutdownError<E>> {
        let _ = self.stop.send(true);
        join(&self.name, self.task).await
    }

    /// [`shutdown`](Worker::shutdown), but aborts the worker when it takes longer than
    /// `deadline`.
    pub async fn shutdown_within(self, deadline: Duration) -> Result<T, ShutdownError<E>> {
        let _ = self.stop.send(true);
        let mut task = self.task;
        match tokio::time::timeout(deadline, &mut task).await {
            Ok(joined) => joined_result(&self.name, joined),
            Err(_) => {
                task.abort();
                tracing::error!(worker = %self.name, ?deadline, "worker did not stop in time; aborted");
                Err(ShutdownError::DeadlineExceeded {
                    worker: self.name,
                    deadline,
                })
            }
        }
    }

    /// Kills the worker without a graceful stop, as a crash would (nothing more is
    /// checkpointed). Its state reads [`WorkerState::Failed`].
    pub fn abort(self) {
        self.task.abort();
    }
}

impl<P: std::fmt::Debug, T, E> std::fmt::Debug for Worker<P, T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("progress", &*self.progress.borrow())
            .field("state", &self.state.current())
            .finish_non_exhaustive()
    }
}

fn stop_reason(state: &WorkerState) -> Arc<str> {
    match state {
        WorkerState::Failed(reason) => reason.clone(),
        WorkerState::ShutDown => "shut down".into(),
        WorkerState::Running => "task ended".into(),
    }
}

async fn join<T, E>(
    name: &Arc<str>,
    task: JoinHandle<Result<T, E>>,
) -> Result<T, ShutdownError<E>> {
    joined_result(name, task.await)
}

fn joined_result<T, E>(
    name: &Arc<str>,
    joined: Result<Result<T, E>, tokio::task::JoinError>,
) -> Result<T, ShutdownError<E>> {
    match joined {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(ShutdownError::Failed(error)),
        Err(join_error) => Err(ShutdownError::Panicked {
            worker: name.clone(),
            reason: join_error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_worker_reports_its_error_to_waiters_state_and_shutdown() {
        let worker: Worker<u64, (), String> = Worker::spawn("failing", 0, |ctx| async move {
            ctx.report(|p| *p = 1);
            Err("publishing position 7 refused".to_owned())
        });
        let waited = worker.wait_for(Duration::from_secs(5), |p| *p >= 2).await;
        assert!(
            matches!(&waited, Err(WaitError::Stopped { reason, progress: 1, .. }) if reason.contains("position 7")),
            "{waited:?}"
        );
        assert!(matches!(worker.state().current(), WorkerState::Failed(_)));
        assert!(
            matches!(worker.shutdown().await, Err(ShutdownError::Failed(e)) if e.contains("position 7"))
        );
    }

    #[tokio::test]
    async fn a_worker_that_ignores_the_stop_is_aborted_at_the_deadline() {
        let worker: Worker<(), (), String> = Worker::spawn("stubborn", (), |_ctx| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        let state = worker.state();
        let stopped = worker.shutdown_within(Duration::from_millis(20)).await;
        assert!(
            matches!(stopped, Err(ShutdownError::DeadlineExceeded { .. })),
            "{stopped:?}"
        );
        assert!(matches!(
            state.clone().stopped().await,
            WorkerState::Failed(_)
        ));
    }

    #[tokio::test]
    async fn waits_until_caught_up_with_the_log_head_of_its_store() {
        use crate::{ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent};
        let store = Arc::new(InMemoryEventStore::new());
        for _ in 0..3 {
            let event = NewEvent::raw("Pinged", 1, JsonPayload::parse("{}").unwrap());
            store
                .append(
                    "Ping-1",
                    ExpectedVersion::Any,
                    vec![event],
                    &Metadata::default(),
                )
                .await
                .unwrap();
        }
        let follower = store.clone();
        let worker: Worker<u64, (), String> = Worker::spawn("follower", 0, |ctx| async move {
            let mut seen = 0;
            while !ctx.stop_requested() {
                seen = follower
                    .head_position()
                    .await
                    .map_err(|e| e.to_string())?
                    .min(seen + 1);
                ctx.report(|p| *p = seen);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        })
        .following(store);
        assert_eq!(
            worker
                .wait_until_caught_up(Duration::from_secs(5))
                .await
                .unwrap(),
            3
        );
        worker.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_panicking_worker_reads_as_failed_and_shutdown_says_it_panicked() {
        let worker: Worker<(), (), String> =
            Worker::spawn("buggy", (), |_ctx| async move { panic!("bug") });
        assert!(matches!(
            worker.state().stopped().await,
            WorkerState::Failed(_)
        ));
        assert!(matches!(
            worker.shutdown().await,
            Err(ShutdownError::Panicked { .. })
        ));
    }
}
