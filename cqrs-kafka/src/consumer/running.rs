//! The handle of a consumer runner in a background task.

use cqrs_core::worker::Worker;

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
}

impl ConsumerStats {
    /// Messages done with: handled or dead-lettered.
    pub fn processed(&self) -> u64 {
        self.handled + self.dead_lettered
    }
}

/// A consumer runner in a background task: the one [`Worker`] handle, with the handler
/// back from [`shutdown`](Worker::shutdown) (which stops after the current message or
/// batch, commits the handled offsets and leaves the group). Dropping it leaves the runner
/// running; [`abort`](Worker::abort) kills it without committing, as a crash would
/// (messages handled since the last commit are delivered again). Wait for messages with
/// `running.wait_for(timeout, |stats| stats.processed() >= n)`.
pub type RunningConsumer<H> = Worker<ConsumerStats, H, ConsumerError>;
