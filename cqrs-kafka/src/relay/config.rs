//! Tuning of the [`EventRelay`](super::EventRelay).

use std::time::Duration;

use crate::TopicMapping;

/// How the relay reads, publishes and checkpoints.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Name of the relay's checkpoint in the event store. Default `kafka-relay`. Two
    /// relays with different names publish the log independently (e.g. to two clusters).
    pub checkpoint_name: String,
    /// Event to topic mapping. Default: one topic per stream category.
    pub topics: TopicMapping,
    /// Events read from the store per call. Default 1,000.
    pub batch_size: usize,
    /// Most events sent and not yet acknowledged. Default 20,000.
    pub max_in_flight: usize,
    /// While busy, the checkpoint is stored at most this often (and always when the relay
    /// goes idle or shuts down). Everything after the stored checkpoint may be published
    /// again after a crash. Default 200 ms.
    pub checkpoint_interval: Duration,
    /// Fallback poll of the store when no wake-up arrives. Default 1 s.
    pub idle_poll: Duration,
    /// How long librdkafka keeps trying to deliver one message (`message.timeout.ms`)
    /// before the relay sees a timeout, rebuilds its producer and resends from its last
    /// acknowledged position. Default 30 s.
    pub delivery_timeout: Duration,
    /// Backoff after a transient failure (broker unreachable, store unavailable): starts
    /// at the first value, doubles up to the second. Default 100 ms to 10 s.
    pub retry_backoff: (Duration, Duration),
    /// `linger.ms`: how long the producer waits to fill a batch. Default 5 ms.
    pub linger: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            checkpoint_name: "kafka-relay".to_owned(),
            topics: TopicMapping::by_category(),
            batch_size: 1_000,
            max_in_flight: 20_000,
            checkpoint_interval: Duration::from_millis(200),
            idle_poll: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(30),
            retry_backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            linger: Duration::from_millis(5),
        }
    }
}

impl RelayConfig {
    /// The backoff after `failures` consecutive transient failures (1-based).
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        crate::stop::backoff(self.retry_backoff, failures)
    }
}
