//! The progress gauges of a projection runner: `cqrs_projection_position` and
//! `cqrs_projection_lag_events` (see [`metric`](crate::telemetry::metric)).

use std::time::{Duration, Instant};

use super::shard::Shard;
use crate::store::EventStore;
use crate::telemetry::metric::ProjectionGauges;

/// How often a runner that is behind reads the log's head for its lag, besides the heads
/// its store announces: one query a second at most, and only after a full batch (an
/// empty or short read means the runner is caught up with what is readable).
const HEAD_READ_EVERY: Duration = Duration::from_secs(1);

/// What a runner knows of the log's head, and where it records its gauges.
pub(super) struct ProgressGauges {
    projection: String,
    gauges: ProjectionGauges,
    head: u64,
    head_read_at: Option<Instant>,
}

impl ProgressGauges {
    /// The gauges of the runner named `name` (a shard's name gives its projection and
    /// shard labels).
    pub(super) fn new(name: &str) -> Self {
        let (projection, shard) = Shard::parse_name(name);
        Self {
            projection: projection.to_owned(),
            gauges: ProjectionGauges::register(projection, shard),
            head: 0,
            head_read_at: None,
        }
    }

    /// Records `checkpoint` and the lag behind the head: the highest of the head the
    /// store announced (`announced`), the one read last, and, after a `full_batch`, a
    /// fresh read when the last is older than a second (other processes' appends are not
    /// always announced). A failed read keeps the last known head.
    pub(super) async fn record<S: EventStore + ?Sized>(
        &mut self,
        store: &S,
        announced: u64,
        checkpoint: u64,
        full_batch: bool,
    ) {
        let due = match self.head_read_at {
            None => true,
            Some(at) => at.elapsed() >= HEAD_READ_EVERY,
        };
        if full_batch && due {
            self.head_read_at = Some(Instant::now());
            match store.head_position().await {
                Ok(head) => self.head = self.head.max(head),
                Err(error) => {
                    tracing::debug!(projection = %self.projection, %error, "cannot read the log's head for the lag gauge")
                }
            }
        }
        self.head = self.head.max(announced);
        self.gauges.set_position(checkpoint);
        self.gauges.set_lag(self.head.saturating_sub(checkpoint));
    }
}

/// Marks the gauges of the runner named `name` unknown (NaN) once it no longer works: it
/// stopped, or stands by while another instance holds the lease. A former leader's last
/// lag would otherwise stay exported and keep an alert on `lag > N` firing.
pub(super) fn forget(name: &str) {
    let (projection, shard) = Shard::parse_name(name);
    ProjectionGauges::register(projection, shard).unknown();
}
