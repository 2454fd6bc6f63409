//! The handle of a consumer runner in a background task.

use cqrs_core::worker::{LogProgress, Worker};

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
    /// Every event of the event store's global log with a position up to this one that
    /// this member's partitions hold is done (handled or dead-lettered), as far as this
    /// member can tell: what a query waits on for read-your-writes
    /// ([`Worker::processed_position`](cqrs_core::worker::Worker::processed_position)).
    /// Per assigned partition, the highest position done; a partition consumed up to its
    /// high watermark does not hold the others back. Positions come from the relay's
    /// `global-position` header. It can go down when partitions are assigned. The precise
    /// definition and its limits (one member's partitions only; the relay's pipelining;
    /// conservative after a start) are in the crate README, "Read-your-writes".
    pub processed_position: u64,
}

impl ConsumerStats {
    /// Messages done with: handled or dead-lettered.
    pub fn processed(&self) -> u64 {
        self.handled + self.dead_lettered
    }
}

impl LogProgress for ConsumerStats {
    fn log_position(&self) -> u64 {
        self.processed_position
    }
}

/// A consumer runner in a background task: the one [`Worker`] handle, with the handler
/// back from [`shutdown`](Worker::shutdown) (which stops after the current message or
/// batch, commits the handled offsets and leaves the group). Dropping it leaves the runner
/// running; [`abort`](Worker::abort) kills it without committing, as a crash would
/// (messages handled since the last commit are delivered again). Wait for messages with
/// `running.wait_for(timeout, |stats| stats.processed() >= n)`, for a position of the log
/// with `running.wait_for_position(position, timeout)` or, in a query,
/// `running.processed_position().wait_for(position, timeout)`.
pub type RunningConsumer<H> = Worker<ConsumerStats, H, ConsumerError>;
