//! Tuning of the [`ConsumerRunner`](super::ConsumerRunner).

use std::time::Duration;

use cqrs_core::RetryPolicy;

/// Which topics to consume with which group, and how to treat failures.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Consumer group id: partitions are shared among the group's members and offsets are
    /// committed per group.
    pub group_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Where poison messages go. Without one, a poison message stops the runner.
    pub dead_letter_topic: Option<String>,
    /// `message.max.bytes` of the dead-letter producer: the largest dead letter it sends
    /// whole. Default 1,000,000 (librdkafka's default). Overrides a `message.max.bytes`
    /// set in the [`KafkaConfig`](crate::KafkaConfig) for the dead-letter producer only.
    pub dead_letter_max_message_bytes: usize,
    /// When the dead-letter topic refuses a poison message for good (too large, not
    /// authorized, topic invalid or missing), a bounded copy is sent instead: the first
    /// this many bytes of the value and of the original headers, the reason and the
    /// origin. Default 64 KiB. Keep it well below `dead_letter_max_message_bytes`.
    pub dead_letter_max_value_bytes: usize,
    /// Attempts for a message whose handler returns
    /// [`HandlerError::Rejected`](crate::HandlerError::Rejected), before it is
    /// dead-lettered. Default 3 attempts, 10 ms to 1 s backoff.
    pub retry: RetryPolicy,
    /// Backoff for [`HandlerError::Transient`](crate::HandlerError::Transient) failures
    /// (and for a broker that cannot be reached while receiving or dead-lettering), which
    /// are retried for as long as they last: only the policy's backoff is used, never its
    /// `max_attempts`. Default [`RetryPolicy::between`] 100 ms and 10 s.
    pub transient_backoff: RetryPolicy,
    /// Handled offsets are committed at least this often. Default 1 s.
    pub commit_interval: Duration,
    /// ... and after this many handled messages. Default 1,000.
    pub commit_every: u64,
    /// Most messages handed to a [`BatchHandler`](crate::BatchHandler) at once. Default
    /// 500. A [`MessageHandler`](crate::MessageHandler) always gets one at a time.
    pub max_batch_len: usize,
    /// How long a batch waits for more messages after its first one arrived, before it
    /// is handled with what it has. Default 10 ms. Messages already fetched never wait.
    pub max_batch_wait: Duration,
    /// Where a group without committed offsets starts: `true` = the earliest message
    /// (`auto.offset.reset=earliest`, the default), `false` = only new messages.
    pub start_from_earliest: bool,
    /// `session.timeout.ms`: how long the group waits for a member that stopped sending
    /// heartbeats (a process killed, a machine gone) before its partitions go to the
    /// others. A member that stops gracefully leaves the group at once; this bounds the
    /// gap after a crash. Default 10 s (librdkafka's own default is 45 s); heartbeats are
    /// sent every third of it. The broker's `group.min.session.timeout.ms` and
    /// `group.max.session.timeout.ms` bound it. A `session.timeout.ms` (or
    /// `heartbeat.interval.ms`) set on the [`KafkaConfig`](crate::KafkaConfig) wins.
    pub session_timeout: Duration,
    /// `group.instance.id`: a static member id (Kafka's static membership, KIP-345), unique
    /// per member of the group and stable across restarts (a StatefulSet pod's name plus
    /// the runner's purpose, say). A member restarting under the same id gets its old
    /// partitions back at once, without a rebalance of the others, and a broker that does
    /// not expire dead members (tansu 0.6.0, see the README) hands it the partitions its
    /// killed predecessor held. The cost: a static member does not leave the group when it
    /// stops, so its partitions wait for its restart or for `session_timeout`, also after
    /// a graceful stop. Default `None` (dynamic membership: a graceful stop hands the
    /// partitions over at once).
    pub group_instance_id: Option<String>,
}

impl ConsumerConfig {
    /// A group consuming `topics`, with the defaults above and no dead-letter topic.
    pub fn new(
        group_id: impl Into<String>,
        topics: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            group_id: group_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            dead_letter_topic: None,
            dead_letter_max_message_bytes: 1_000_000,
            dead_letter_max_value_bytes: 64 * 1024,
            retry: RetryPolicy::attempts(3)
                .with_backoff(Duration::from_millis(10), Duration::from_secs(1)),
            transient_backoff: RetryPolicy::between(
                Duration::from_millis(100),
                Duration::from_secs(10),
            ),
            commit_interval: Duration::from_secs(1),
            commit_every: 1_000,
            max_batch_len: 500,
            max_batch_wait: Duration::from_millis(10),
            start_from_earliest: true,
            session_timeout: Duration::from_secs(10),
            group_instance_id: None,
        }
    }

    /// Sends poison messages to `topic`.
    pub fn with_dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    /// Batches of up to `max_len` messages, waiting at most `max_wait` for them.
    pub fn with_batches(mut self, max_len: usize, max_wait: Duration) -> Self {
        self.max_batch_len = max_len.max(1);
        self.max_batch_wait = max_wait;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_transient_backoff_doubles_from_100_ms_up_to_10_s_without_a_limit() {
        let backoff = ConsumerConfig::new("g", ["t"]).transient_backoff;
        for (failures, ceiling_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (7, 6_400),
            (8, 10_000),
            (60, 10_000),
        ] {
            let delay = backoff.backoff(failures);
            let ceiling = Duration::from_millis(ceiling_ms);
            assert!(delay <= ceiling, "{failures}: {delay:?}");
            assert!(
                delay >= ceiling / 2,
                "{failures}: {delay:?} (jitter is at most half)"
            );
        }
        assert_eq!(
            backoff.max_attempts,
            u32::MAX,
            "transient failures are never given up"
        );
    }
}
