//! The handle of a relay running in a background task.

use cqrs_core::progress::{wait_for_progress, WaitOutcome};
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::WorkerStateWatch;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::RelayError;
use cqrs_core::EventStore;

/// What a running relay has achieved so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayProgress {
    /// Highest position sent to the producer.
    pub sent: u64,
    /// Every event up to this position was acknowledged by the broker.
    pub acked: u64,
    /// The checkpoint last stored in the event store (`<= acked`).
    pub checkpoint: u64,
    /// Events the broker refused for good that were handed to the producer as parking
    /// records ([`RefusedEvents::Park`](crate::RefusedEvents::Park)).
    pub parked: u64,
    /// The last transient failure, cleared when publishing succeeds again.
    pub last_error: Option<Arc<str>>,
    /// Set when the relay stopped, with the reason.
    pub stopped: Option<Arc<str>>,
}

/// A relay publishing in a background task. Dropping the handle leaves the relay running;
/// call [`shutdown`](RunningRelay::shutdown) to stop it cleanly.
pub struct RunningRelay<S: ?Sized> {
    pub(crate) name: String,
    pub(crate) store: Arc<S>,
    pub(crate) progress: watch::Receiver<RelayProgress>,
    pub(crate) state: WorkerStateWatch,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: JoinHandle<Result<(), RelayError>>,
}

impl<S: EventStore + ?Sized> RunningRelay<S> {
    /// The latest progress.
    pub fn progress(&self) -> RelayProgress {
        self.progress.borrow().clone()
    }

    /// How the relay task is doing: [`Running`](cqrs_core::worker::WorkerState::Running),
    /// [`ShutDown`](cqrs_core::worker::WorkerState::ShutDown) after
    /// [`shutdown`](Self::shutdown), or [`Failed`](cqrs_core::worker::WorkerState::Failed)
    /// with the error that stopped it for good (naming the position for a refused event;
    /// a panic or an abort reads as failed too). Hand it to a readiness check, e.g.
    /// `service_kit::Health::watch`.
    pub fn state(&self) -> WorkerStateWatch {
        self.state.clone()
    }

    /// A watch on the progress (for health checks and metrics).
    pub fn watch(&self) -> watch::Receiver<RelayProgress> {
        self.progress.clone()
    }

    /// Waits until the stored checkpoint reaches `position`.
    pub async fn wait_for_checkpoint(
        &self,
        position: u64,
        timeout: Duration,
    ) -> Result<u64, RelayError> {
        let outcome = wait_for_progress(
            &self.progress,
            timeout,
            |p| p.checkpoint >= position,
            |p| p.stopped.is_some(),
        )
        .await;
        match outcome {
            WaitOutcome::Reached(now) => Ok(now.checkpoint),
            WaitOutcome::Stopped(now) => Err(RelayError::Stopped {
                relay: self.name.clone(),
                reason: now.stopped.as_deref().unwrap_or("task ended").to_owned(),
            }),
            WaitOutcome::TimedOut(now) => Err(RelayError::Timeout {
                relay: self.name.clone(),
                target: position,
                checkpoint: now.checkpoint,
                waited: timeout,
            }),
        }
    }

    /// Waits until everything committed to the store before this call is published and
    /// checkpointed.
    pub async fn wait_until_caught_up(&self, timeout: Duration) -> Result<u64, RelayError> {
        let head = self
            .store
            .head_position()
            .await
            .map_err(|source| RelayError::Store {
                relay: self.name.clone(),
                source,
            })?;
        self.wait_for_checkpoint(head, timeout).await
    }

    /// Stops the relay: waits for the acknowledgement of everything sent (up to the
    /// delivery timeout), stores the checkpoint, and returns the error that stopped the
    /// relay earlier, if any.
    pub async fn shutdown(self) -> Result<(), RelayError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(join_error) => Err(RelayError::Stopped {
                relay: self.name,
                reason: format!("relay task panicked or was cancelled: {join_error}"),
            }),
        }
    }

    /// Kills the relay task without flushing or storing the checkpoint, as a crash would.
    /// Events after the stored checkpoint are published again by the next relay.
    pub fn abort(self) {
        self.task.abort();
    }
}
