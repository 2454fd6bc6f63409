//! Why a wait on a [`Worker`](super::Worker) or its stop did not end as asked.

use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;

/// A wait until a worker caught up with the log did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError<P> {
    /// The log's head could not be read.
    #[error("worker `{worker}`: cannot read the head of the log: {source}")]
    Store {
        /// The worker's name.
        worker: Arc<str>,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The worker stopped or the timeout passed first.
    #[error(transparent)]
    Wait(#[from] WaitError<P>),
    /// The worker was not given a log to follow ([`Worker::following`](super::Worker::following)).
    #[error("worker `{worker}` does not follow an event store's log")]
    NoLog {
        /// The worker's name.
        worker: Arc<str>,
    },
}

/// A wait on a worker did not reach its condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError<P> {
    /// The worker stopped first.
    #[error("worker `{worker}` stopped: {reason}")]
    Stopped {
        /// The worker's name.
        worker: Arc<str>,
        /// Why it stopped.
        reason: Arc<str>,
        /// The progress it made.
        progress: P,
    },
    /// The timeout passed first.
    #[error("worker `{worker}` did not get there within {waited:?}")]
    TimedOut {
        /// The worker's name.
        worker: Arc<str>,
        /// How long the wait took.
        waited: Duration,
        /// The progress seen last.
        progress: P,
    },
}

/// A worker's stop did not end with its output.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError<E> {
    /// The worker had stopped for good on its own, with this error.
    #[error(transparent)]
    Failed(E),
    /// The worker task panicked or was cancelled.
    #[error("worker `{worker}` panicked or was cancelled: {reason}")]
    Panicked {
        /// The worker's name.
        worker: Arc<str>,
        /// The join error.
        reason: String,
    },
    /// The graceful stop took longer than its deadline; the task was aborted (work not
    /// checkpointed is done again by the next run: every worker here is at-least-once).
    #[error("worker `{worker}` did not stop within {deadline:?} and was aborted")]
    DeadlineExceeded {
        /// The worker's name.
        worker: Arc<str>,
        /// The deadline.
        deadline: Duration,
    },
}

impl<E> ShutdownError<E> {
    /// The worker's own error, if it failed with one.
    pub fn into_failure(self) -> Option<E> {
        match self {
            ShutdownError::Failed(error) => Some(error),
            _ => None,
        }
    }
}
