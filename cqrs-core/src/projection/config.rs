//! [`RunnerConfig`]: the tuning both projection runners take.

use std::time::Duration;

use crate::command::RetryPolicy;
#[cfg(doc)]
use crate::{error::StoreError, failure::FailureKind, projection::Projection};

/// Tuning of a [`ProjectionRunner`](super::ProjectionRunner).
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
