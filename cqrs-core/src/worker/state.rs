//! The state every worker reports: running, shut down, or failed with the reason.
//!
//! A worker task holds a [`WorkerStateReporter`] and reports how it ended with
//! [`finished`](WorkerStateReporter::finished). A reporter dropped without a report (the task
//! panicked or was aborted) reports [`WorkerState::Failed`] on its own: a stopped worker is
//! never silent.
//!
//! ```
//! use cqrs_core::worker::{WorkerState, WorkerStateReporter};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (reporter, mut state) = WorkerStateReporter::new();
//! assert_eq!(state.current(), WorkerState::Running);
//! tokio::spawn(async move {
//!     let result: Result<(), &str> = Err("broker refused the dead letter");
//!     reporter.finished(&result);
//! });
//! assert!(matches!(state.stopped().await, WorkerState::Failed(reason) if reason.contains("refused")));
//! # });
//! ```

use std::fmt::Display;
use std::sync::Arc;

use tokio::sync::watch;

use crate::telemetry::metric;

/// Where a background worker is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    /// Working (or waiting for work).
    Running,
    /// Stopped because it was asked to (graceful shutdown).
    ShutDown,
    /// Stopped for good on an error, a panic or an abort; the reason says which.
    Failed(Arc<str>),
}

impl WorkerState {
    /// True unless the worker is [`WorkerState::Running`].
    pub fn is_stopped(&self) -> bool {
        !matches!(self, WorkerState::Running)
    }
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerState::Running => f.write_str("running"),
            WorkerState::ShutDown => f.write_str("shut down"),
            WorkerState::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// Held by the worker task; reports how it ended.
#[derive(Debug)]
pub struct WorkerStateReporter {
    sender: watch::Sender<WorkerState>,
    reported: bool,
    /// The worker's name, for the `cqrs_worker_up` metric.
    name: Option<Arc<str>>,
}

impl WorkerStateReporter {
    /// A reporter in state [`WorkerState::Running`] and the watch that follows it.
    pub fn new() -> (Self, WorkerStateWatch) {
        let (sender, receiver) = watch::channel(WorkerState::Running);
        (
            Self {
                sender,
                reported: false,
                name: None,
            },
            WorkerStateWatch(receiver),
        )
    }

    /// Like [`new`](Self::new), for the worker `name`: its end is also reported as role
    /// `stopped` of the `cqrs_worker_up` metric.
    pub fn named(name: Arc<str>) -> (Self, WorkerStateWatch) {
        let (mut reporter, watch) = Self::new();
        reporter.name = Some(name);
        (reporter, watch)
    }

    fn report(&mut self, state: WorkerState) {
        self.sender.send_replace(state);
        self.reported = true;
        if let Some(name) = &self.name {
            metric::worker_role(name, None);
        }
    }

    /// Reports the worker's end: [`WorkerState::ShutDown`] for `Ok`,
    /// [`WorkerState::Failed`] with the error's text for `Err`.
    pub fn finished<T, E: Display>(mut self, result: &Result<T, E>) {
        let state = match result {
            Ok(_) => WorkerState::ShutDown,
            Err(error) => WorkerState::Failed(error.to_string().into()),
        };
        self.report(state);
    }
}

impl Drop for WorkerStateReporter {
    fn drop(&mut self) {
        if !self.reported {
            self.report(WorkerState::Failed(
                "the worker task ended without reporting (it panicked or was aborted)".into(),
            ));
        }
    }
}

/// Follows one worker's [`WorkerState`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkerStateWatch(watch::Receiver<WorkerState>);

impl WorkerStateWatch {
    /// The state now.
    pub fn current(&self) -> WorkerState {
        self.0.borrow().clone()
    }

    /// Resolves once the worker stopped, with the state it stopped in.
    pub async fn stopped(&mut self) -> WorkerState {
        let stopped = self
            .0
            .wait_for(WorkerState::is_stopped)
            .await
            .map(|state| state.clone());
        // Err: the reporter is gone, and its drop reported a state first.
        stopped.unwrap_or_else(|_| self.0.borrow().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reporter_dropped_without_a_report_reads_as_failed() {
        let (reporter, mut state) = WorkerStateReporter::new();
        let task = tokio::spawn(async move {
            let _reporter = reporter;
            panic!("worker bug");
        });
        assert!(task.await.is_err());
        assert!(
            matches!(state.stopped().await, WorkerState::Failed(reason) if reason.contains("panicked"))
        );
    }

    #[tokio::test]
    async fn a_graceful_end_is_shut_down() {
        let (reporter, mut state) = WorkerStateReporter::new();
        reporter.finished(&Ok::<(), String>(()));
        assert_eq!(state.stopped().await, WorkerState::ShutDown);
    }
}
