//! The [`CommandProcessor`]: consumes command topics with a consumer group and runs each
//! command through a [`CommandRouter`], on the consumer runner's loop.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{CommandRouter, RetryPolicy};

use super::handler::CommandHandler;
use super::message::CommandDecoder;
use super::producer::Producer;
use super::{trace, CommandTopics};
use crate::consumer::{Limits, Setup};
use crate::{ConsumerConfig, ConsumerError, KafkaConfig, RunningConsumer};

/// Which command topics a processor consumes with which group, and its tuning.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Consumer group: the processors of one group share the topics' partitions (one
    /// aggregate's commands always on one partition, so in order on one processor).
    pub group_id: String,
    /// Command topics to consume ([`CommandTopics::topics_of`] the router).
    pub topics: Vec<String>,
    /// Where invalid commands (unknown aggregate type, undecodable...) and permanently
    /// failed ones go, after their reply.
    pub dead_letter_topic: String,
    /// Backoff for transient failures (store unavailable, reply not deliverable yet),
    /// retried as long as they last. Default [`RetryPolicy::between`] 100 ms and 10 s.
    pub transient_backoff: RetryPolicy,
    /// How often offsets of answered commands are committed. Default 1 s. A processor
    /// that crashes redelivers the commands since: they are replayed, not run again.
    pub commit_interval: Duration,
    /// `session.timeout.ms` of the group member. Default 10 s.
    pub session_timeout: Duration,
    /// `group.instance.id` (static membership), see
    /// [`ConsumerConfig::group_instance_id`]. Default `None`.
    pub group_instance_id: Option<String>,
    /// A group without committed offsets starts at the earliest command (default `true`).
    pub start_from_earliest: bool,
    /// How long the reply producer tries to deliver one reply before the attempt counts
    /// as a transient failure (and is retried). Default 10 s.
    pub reply_timeout: Duration,
    /// `linger.ms` of the reply producer. Default 0: a reply is sent at once.
    pub reply_linger: Duration,
    /// `message.max.bytes` of the reply producer. Default 1,000,000.
    pub reply_max_message_bytes: usize,
    /// `fetch.wait.max.ms` of the group member: how long the broker may hold a fetch when
    /// no command is there. Default 100 ms. Apache Kafka answers a waiting fetch as soon
    /// as a command arrives, so there it only bounds idle fetch traffic; tansu 0.6.0 holds
    /// the fetch for this whole time, so there it is added to a command's latency (see
    /// the crate README).
    pub fetch_wait: Duration,
    /// The processor replies only to topics whose name ends with this (default
    /// `replies`, as in `inventory.replies`): a sender, buggy or hostile, cannot make it
    /// write replies onto an events topic or create topics on a broker that creates them
    /// on first use. A command whose reply-to breaks the rule is dead-lettered unrun.
    pub reply_topic_suffix: String,
}

impl ProcessorConfig {
    /// A group consuming `topics`, dead-lettering to `dead_letter_topic`, with the
    /// defaults above.
    pub fn new(
        group_id: impl Into<String>,
        topics: impl IntoIterator<Item = impl Into<String>>,
        dead_letter_topic: impl Into<String>,
    ) -> Self {
        let consumer = ConsumerConfig::new("", Vec::<String>::new());
        Self {
            group_id: group_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            dead_letter_topic: dead_letter_topic.into(),
            transient_backoff: consumer.transient_backoff,
            commit_interval: consumer.commit_interval,
            session_timeout: consumer.session_timeout,
            group_instance_id: None,
            start_from_earliest: true,
            reply_timeout: Duration::from_secs(10),
            reply_linger: Duration::ZERO,
            reply_max_message_bytes: 1_000_000,
            fetch_wait: Duration::from_millis(100),
            reply_topic_suffix: "replies".into(),
        }
    }

    /// A group consuming the command topics of every aggregate type `router` routes.
    pub fn for_router(
        group_id: impl Into<String>,
        router: &CommandRouter,
        topics: &CommandTopics,
        dead_letter_topic: impl Into<String>,
    ) -> Self {
        Self::new(group_id, topics.topics_of(router), dead_letter_topic)
    }

    fn consumer_config(&self) -> ConsumerConfig {
        let mut config = ConsumerConfig::new(&self.group_id, self.topics.clone())
            .with_dead_letter_topic(&self.dead_letter_topic);
        config.transient_backoff = self.transient_backoff;
        config.commit_interval = self.commit_interval;
        config.session_timeout = self.session_timeout;
        config.group_instance_id = self.group_instance_id.clone();
        config.start_from_earliest = self.start_from_earliest;
        config
    }
}

/// Runs the commands of Kafka command topics through a [`CommandRouter`] and publishes
/// each outcome to the command's reply topic.
///
/// On the [`ConsumerRunner`](crate::ConsumerRunner)'s loop (consumer group, offsets
/// committed only after success, commit on revocation, dead-letter producer), one command
/// at a time per processor, in partition order:
///
/// - **Accepted / Refused**: replied; once the broker acknowledged the reply, the offset
///   is marked for commit.
/// - **Invalid** (unknown aggregate type, undecodable payload, ...) and permanent
///   **Failed**: replied, then dead-lettered with the reason; the next command goes on.
///   A message that is no envelope is replied to only when its headers carry a command id
///   and a reply topic; otherwise it is dead-lettered unanswered (stage `decode`).
/// - Transient **Failed** (store unavailable): retried with `transient_backoff`, never
///   replied, never skipped; the partition waits.
/// - **Crash** between the append and the reply: the command is delivered again and
///   executed under its command id, which reports the first outcome (`replayed: true`)
///   without a second effect.
/// - **Tracing and metrics**: each command is run and answered in a `command process`
///   span (command id, command type, aggregate type and id, correlation id, topic,
///   partition, offset) continued from the sender's `command send`, so the pipeline's
///   `command` span is its child; the processor counts its messages in
///   `cqrs_consumer_messages_total` like every consumer (see the crate README,
///   "Observability").
///
/// ```no_run
/// # async fn example(router: cqrs_core::CommandRouter) -> Result<(), Box<dyn std::error::Error>> {
/// use cqrs_kafka::{CommandProcessor, CommandTopics, KafkaConfig, ProcessorConfig};
///
/// let kafka = KafkaConfig::new("127.0.0.1:9092");
/// let config = ProcessorConfig::for_router("orders-commands", &router, &CommandTopics::new(), "orders-commands.dlq");
/// let running = CommandProcessor::new(kafka, config, router).spawn()?;
/// // service_kit::Health::watch(running.state()) ...
/// running.shutdown().await?; // finishes the command at hand, commits, leaves the group
/// # Ok(()) }
/// ```
pub struct CommandProcessor {
    kafka: KafkaConfig,
    config: ProcessorConfig,
    router: CommandRouter,
}

/// A command processor in a background task: the consumer runners' handle
/// ([`RunningConsumer`]), with `state()` for readiness, `progress()`
/// ([`ConsumerStats`](crate::ConsumerStats): `handled` = commands answered, `dead_lettered`,
/// `retries`), `shutdown()` and `abort()`.
pub type RunningCommandProcessor = RunningConsumer<()>;

impl CommandProcessor {
    /// A processor of `config.topics` running commands through `router`.
    pub fn new(kafka: KafkaConfig, config: ProcessorConfig, router: CommandRouter) -> Self {
        Self {
            kafka,
            config,
            router,
        }
    }

    /// Creates the clients, subscribes, and runs in a background task. Must be called
    /// within a Tokio runtime.
    pub fn spawn(self) -> Result<RunningCommandProcessor, ConsumerError> {
        let replies = Producer::new(
            &self.kafka,
            self.config.reply_timeout,
            self.config.reply_linger,
            self.config.reply_max_message_bytes,
        )
        .map_err(|source| ConsumerError::Setup {
            group: self.config.group_id.clone(),
            source,
        })?;
        let handler = CommandHandler {
            router: Arc::new(self.router),
            replies,
            reply_topic_suffix: self.config.reply_topic_suffix.clone(),
            retained: None,
        };
        let limits = Limits {
            max_len: 1,
            max_wait: Duration::ZERO,
        };
        let fetch_wait = self.config.fetch_wait.as_millis().max(1).to_string();
        Setup::new(self.kafka, self.config.consumer_config())
            .with_consumer_property("fetch.wait.max.ms", fetch_wait)
            .with_decoder(CommandDecoder)
            .with_message_span(trace::process_span)
            .spawn(handler, limits, |_| ())
    }
}
