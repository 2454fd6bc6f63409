//! The handle of a relay running in a background task.

use std::sync::Arc;

use cqrs_core::worker::{LeaseRole, LogProgress, Worker};

use super::error::RelayError;

/// What a running relay has achieved so far. The three positions are global log positions
/// (not counts), in the order `checkpoint <= acked_position <= sent_position`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayProgress {
    /// Highest log position handed to the producer.
    pub sent_position: u64,
    /// Every event up to this log position was acknowledged by the broker.
    pub acked_position: u64,
    /// The checkpoint last stored in the event store (`<= acked_position`): a relay
    /// started after a crash resumes after it.
    pub checkpoint: u64,
    /// Events the broker refused for good that were handed to the producer as parking
    /// records ([`RefusedEvents::Park`](crate::RefusedEvents::Park)).
    pub parked: u64,
    /// The last transient failure, cleared when publishing succeeds again.
    pub last_error: Option<Arc<str>>,
    /// [`Leader`](LeaseRole::Leader) while this instance publishes (always, for a relay
    /// without a lease, once started), [`Standby`](LeaseRole::Standby) while another
    /// instance holds the relay's lease ([`EventRelay::with_lease`](crate::EventRelay::with_lease))
    /// or after it stopped. The positions above are this instance's own: a standby's stay
    /// where they were when it last published.
    pub role: LeaseRole,
}

impl LogProgress for RelayProgress {
    /// The stored checkpoint: everything up to it is published and acknowledged.
    fn log_position(&self) -> u64 {
        self.checkpoint
    }
}

/// A relay publishing in a background task: the one [`Worker`] handle. Dropping it leaves
/// the relay running; [`shutdown`](Worker::shutdown) stops it cleanly (every ack awaited,
/// the checkpoint stored), [`abort`](Worker::abort) kills it as a crash would (events after
/// the stored checkpoint are published again by the next relay).
/// [`wait_for_position`](Worker::wait_for_position) and
/// [`wait_until_caught_up`](Worker::wait_until_caught_up) wait on the stored checkpoint.
pub type RunningRelay = Worker<RelayProgress, (), RelayError>;
