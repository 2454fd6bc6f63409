//! The handle of a consumer runner in a background task.

use cqrs_core::progress::{wait_for_progress, WaitOutcome};
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::WorkerStateWatch;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::ConsumerError;

/// What a consumer runner has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Messages the handler accepted.
    pub handled: u64,
    /// Poison messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Handler attempts that failed and were retried.
    pub retries: u64,
    /// Set when the runner stopped, with the reason.
    pub stopped: Option<Arc<str>>,
}

impl ConsumerStats {
    /// Messages done with: handled or dead-lettered.
    pub fn processed(&self) -> u64 {
        self.handled + self.dead_lettered
    }
}

/// A consumer runner in a background task. Dropping the handle leaves it running; call
/// [`shutdown`](RunningConsumer::shutdown) to stop it, commit and get the handler back.
pub struct RunningConsumer<H> {
    pub(crate) group: String,
    pub(crate) stats: watch::Receiver<ConsumerStats>,
    pub(crate) state: WorkerStateWatch,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: JoinHandle<Result<H, ConsumerError>>,
}

impl<H> RunningConsumer<H> {
    /// The latest statistics.
    pub fn stats(&self) -> ConsumerStats {
        self.stats.borrow().clone()
    }

    /// How the runner task is doing: [`Running`](cqrs_core::worker::WorkerState::Running),
    /// [`ShutDown`](cqrs_core::worker::WorkerState::ShutDown) after
    /// [`shutdown`](Self::shutdown), or [`Failed`](cqrs_core::worker::WorkerState::Failed)
    /// with the error that stopped it for good (a panic or an abort reads as failed too).
    /// Hand it to a readiness check, e.g. `service_kit::Health::watch`.
    pub fn state(&self) -> WorkerStateWatch {
        self.state.clone()
    }

    /// Waits until at least `count` messages were processed (handled or dead-lettered).
    pub async fn wait_for_processed(
        &self,
        count: u64,
        timeout: Duration,
    ) -> Result<ConsumerStats, ConsumerError> {
        let outcome = wait_for_progress(
            &self.stats,
            timeout,
            |s| s.processed() >= count,
            |s| s.stopped.is_some(),
        )
        .await;
        match outcome {
            WaitOutcome::Reached(now) => Ok(now),
            WaitOutcome::Stopped(now) => Err(ConsumerError::Stopped {
                group: self.group.clone(),
                reason: now.stopped.as_deref().unwrap_or("task ended").to_owned(),
            }),
            WaitOutcome::TimedOut(now) => Err(ConsumerError::Timeout {
                group: self.group.clone(),
                handled: now.processed(),
                target: count,
                waited: timeout,
            }),
        }
    }

    /// Stops after the current message, commits the handled offsets, leaves the group and
    /// returns the handler (or the error that stopped the runner earlier).
    pub async fn shutdown(self) -> Result<H, ConsumerError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(join_error) => Err(ConsumerError::Stopped {
                group: self.group,
                reason: format!("runner task panicked or was cancelled: {join_error}"),
            }),
        }
    }

    /// Kills the runner task without committing, as a crash would: messages handled since
    /// the last commit are delivered again to the next member of the group.
    pub fn abort(self) {
        self.task.abort();
    }
}
