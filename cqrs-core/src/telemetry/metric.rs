//! The metrics every crate of this workspace records, through the
//! [`metrics`](https://docs.rs/metrics) facade (free until a recorder is installed).
//!
//! Names and labels are stable; a new label value may appear, a name is never reused for
//! another meaning.
//!
//! | name | kind | labels | what it measures |
//! |---|---|---|---|
//! | `cqrs_command_duration_seconds` | histogram | `aggregate`, `outcome` | one command through the pipeline, from the first load to its outcome, retries included; `outcome` = `committed` \| `replayed` \| `rejected` \| `failed` |
//! | `cqrs_command_conflicts_total` | counter | `aggregate` | appends refused for a concurrent write (each one is retried, up to the [`RetryPolicy`](crate::RetryPolicy)) |
//! | `cqrs_load_duration_seconds` | histogram | `store` | loading one aggregate (snapshot plus tail) through a [`Repository`](crate::Repository): for a command, and for [`Repository::load`](crate::Repository::load) |
//! | `cqrs_append_duration_seconds` | histogram | `store` | one append of a command's events, conflicts included |
//! | `cqrs_appended_events_total` | counter | `store` | events the command pipeline appended |
//! | `cqrs_projection_position` | gauge | `projection`, `shard` | the projection's stored checkpoint (a global-log position); for a Kafka-fed projection (cqrs-kafka's `ProjectionHandler` in a consumer runner), `shard` is the partition and the value the highest global position done in it (applied or dead-lettered) |
//! | `cqrs_projection_lag_events` | gauge | `projection`, `shard` | positions between the log's head and that checkpoint, read when the runner last looked at the log (0 = caught up); for a Kafka-fed projection, the messages behind the partition's high watermark (librdkafka's cached one) after the last one done, which on a relay topic are events (0 = caught up); a projection runner that stopped or stands by sets its position and lag to NaN (unknown), so that a former leader's last lag does not stay exported |
//! | `cqrs_relay_published_total` | counter | `relay` | events the outbox relay published and the broker acknowledged |
//! | `cqrs_relay_lag_events` | gauge | `relay` | positions between the log's head and the relay's acknowledged checkpoint |
//! | `cqrs_consumer_messages_total` | counter | `topic`, `outcome` | Kafka messages a consumer finished with: `handled`, `dead_lettered`, or `retried` (counted per attempt that failed transiently and will be tried again) |
//! | `cqrs_worker_up` | gauge | `worker`, `role` | 1 for the role the background worker is in now, 0 for the others: `leader` (working: it holds its lease, or needs none), `standby` (another replica holds the lease), `stopped` (shut down or failed) |
//!
//! Labels: `store` is [`EventStore::kind`](crate::EventStore::kind) (`memory`, `postgres`,
//! `mongo`); `aggregate` is [`Aggregate::TYPE`](crate::Aggregate::TYPE); `projection` is the
//! projection's name and `shard` its shard number (`0` for an unsharded projection);
//! `relay` is the relay's checkpoint name (cqrs-kafka's `RelayConfig::checkpoint_name`,
//! default `kafka-relay`); `topic` is the Kafka topic; `worker` is the name the worker was
//! spawned under: a projection's (or shard's) name, the relay's checkpoint name, a Kafka
//! consumer's group id. Durations are in seconds.
//!
//! A service exports them by installing a recorder once at start, **before it runs its
//! first command**: a [`Repository`](crate::Repository) registers its metric handles at its
//! first command or load (so that a command does not look its metrics up by name), and a
//! repository that ran commands before a recorder was installed keeps recording into the
//! no-op one. E.g.:
//!
//! ```ignore
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! // GET /metrics answers prometheus.render()
//! ```

use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::worker::LeaseRole;

/// Histogram: one command through the pipeline (`aggregate`, `outcome`).
pub const COMMAND_DURATION_SECONDS: &str = "cqrs_command_duration_seconds";
/// Counter: appends refused for a concurrent write (`aggregate`).
pub const COMMAND_CONFLICTS_TOTAL: &str = "cqrs_command_conflicts_total";
/// Histogram: loading one aggregate through a `Repository` (`store`).
pub const LOAD_DURATION_SECONDS: &str = "cqrs_load_duration_seconds";
/// Histogram: one append of a command's events (`store`).
pub const APPEND_DURATION_SECONDS: &str = "cqrs_append_duration_seconds";
/// Counter: events the command pipeline appended (`store`).
pub const APPENDED_EVENTS_TOTAL: &str = "cqrs_appended_events_total";
/// Gauge: a projection's stored checkpoint (`projection`, `shard`).
pub const PROJECTION_POSITION: &str = "cqrs_projection_position";
/// Gauge: log head minus a projection's checkpoint (`projection`, `shard`).
pub const PROJECTION_LAG_EVENTS: &str = "cqrs_projection_lag_events";
/// Counter: events the relay published (`relay`).
pub const RELAY_PUBLISHED_TOTAL: &str = "cqrs_relay_published_total";
/// Gauge: log head minus the relay's acknowledged checkpoint (`relay`).
pub const RELAY_LAG_EVENTS: &str = "cqrs_relay_lag_events";
/// Counter: Kafka messages a consumer finished with (`topic`, `outcome`).
pub const CONSUMER_MESSAGES_TOTAL: &str = "cqrs_consumer_messages_total";
/// Gauge: 1 for a worker's current role, 0 for the others (`worker`, `role`).
pub const WORKER_UP: &str = "cqrs_worker_up";

/// What a consumer did with a message, the `outcome` of [`CONSUMER_MESSAGES_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerOutcome {
    /// Handled (its effect applied, or found already applied).
    Handled,
    /// Sent to the dead-letter topic with the reason.
    DeadLettered,
    /// Failed transiently; it will be tried again.
    Retried,
}

impl ConsumerOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerOutcome::Handled => "handled",
            ConsumerOutcome::DeadLettered => "dead_lettered",
            ConsumerOutcome::Retried => "retried",
        }
    }
}

/// Counts `messages` a consumer of `topic` finished with `outcome`.
pub fn consumer_messages(topic: &str, outcome: ConsumerOutcome, messages: u64) {
    if messages > 0 {
        metrics::counter!(CONSUMER_MESSAGES_TOTAL, "topic" => topic.to_owned(), "outcome" => outcome.as_str())
            .increment(messages);
    }
}

/// A worker's role for [`WORKER_UP`]: a [`LeaseRole`] while it runs, `None` once stopped.
pub fn worker_role(worker: &str, role: Option<LeaseRole>) {
    let now = match role {
        Some(LeaseRole::Leader) => "leader",
        Some(LeaseRole::Standby) => "standby",
        None => "stopped",
    };
    for label in ["leader", "standby", "stopped"] {
        metrics::gauge!(WORKER_UP, "worker" => worker.to_owned(), "role" => label)
            .set(if label == now { 1.0 } else { 0.0 });
    }
}

/// The two gauges of one projection shard ([`PROJECTION_POSITION`],
/// [`PROJECTION_LAG_EVENTS`]), registered once so that recording builds no labels.
#[derive(Debug, Clone)]
pub struct ProjectionGauges {
    position: metrics::Gauge,
    lag: metrics::Gauge,
}

impl ProjectionGauges {
    /// The gauges of `shard` of `projection` (shard 0 for an unsharded projection, the
    /// partition for a Kafka-fed one).
    pub fn register(projection: &str, shard: u32) -> Self {
        let (projection, shard) = (projection.to_owned(), shard.to_string());
        Self {
            position: metrics::gauge!(PROJECTION_POSITION, "projection" => projection.clone(), "shard" => shard.clone()),
            lag: metrics::gauge!(PROJECTION_LAG_EVENTS, "projection" => projection, "shard" => shard),
        }
    }

    /// The global position done up to.
    pub fn set_position(&self, position: u64) {
        self.position.set(position as f64);
    }

    /// How many positions (or messages) are behind it.
    pub fn set_lag(&self, lag: u64) {
        self.lag.set(lag as f64);
    }

    /// Both unknown (NaN): the runner stopped or stands by.
    pub fn unknown(&self) {
        self.position.set(f64::NAN);
        self.lag.set(f64::NAN);
    }
}

/// Counts `events` the relay `relay` published ([`RELAY_PUBLISHED_TOTAL`]).
pub fn relay_published(relay: &str, events: u64) {
    if events > 0 {
        metrics::counter!(RELAY_PUBLISHED_TOTAL, "relay" => relay.to_owned()).increment(events);
    }
}

/// The relay's lag: `head` minus its acknowledged `checkpoint` ([`RELAY_LAG_EVENTS`]).
pub fn relay_lag(relay: &str, checkpoint: u64, head: u64) {
    metrics::gauge!(RELAY_LAG_EVENTS, "relay" => relay.to_owned())
        .set(head.saturating_sub(checkpoint) as f64);
}

/// The command pipeline's metric handles for one aggregate type on one store, registered
/// once (a [`Repository`](crate::Repository) registers them at its first command or load) so that
/// a command does not look its metrics up by name: install the recorder before the first
/// command runs.
pub(crate) struct CommandMetrics {
    committed: Histogram,
    replayed: Histogram,
    rejected: Histogram,
    failed: Histogram,
    conflicts: Counter,
    load: Histogram,
    append: Histogram,
    appended: Counter,
}

impl CommandMetrics {
    pub(crate) fn new(aggregate: &'static str, store: &'static str) -> Self {
        let command = |outcome: &'static str| metrics::histogram!(COMMAND_DURATION_SECONDS, "aggregate" => aggregate, "outcome" => outcome);
        Self {
            committed: command("committed"),
            replayed: command("replayed"),
            rejected: command("rejected"),
            failed: command("failed"),
            conflicts: metrics::counter!(COMMAND_CONFLICTS_TOTAL, "aggregate" => aggregate),
            load: metrics::histogram!(LOAD_DURATION_SECONDS, "store" => store),
            append: metrics::histogram!(APPEND_DURATION_SECONDS, "store" => store),
            appended: metrics::counter!(APPENDED_EVENTS_TOTAL, "store" => store),
        }
    }

    /// One command's duration by outcome: `committed`, `replayed`, `rejected` or `failed`.
    pub(crate) fn command_finished(&self, outcome: &str, took: Duration) {
        let histogram = match outcome {
            "committed" => &self.committed,
            "replayed" => &self.replayed,
            "rejected" => &self.rejected,
            _ => &self.failed,
        };
        histogram.record(took.as_secs_f64());
    }

    /// One conflict on append.
    pub(crate) fn conflict(&self) {
        self.conflicts.increment(1);
    }

    /// One aggregate load.
    pub(crate) fn loaded(&self, took: Duration) {
        self.load.record(took.as_secs_f64());
    }

    /// One append, which stored `events` events when it did.
    pub(crate) fn appended(&self, took: Duration, events: Option<u64>) {
        self.append.record(took.as_secs_f64());
        if let Some(events) = events.filter(|n| *n > 0) {
            self.appended.increment(events);
        }
    }
}
