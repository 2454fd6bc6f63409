//! The runners: [`ConsumerRunner`] feeds a [`MessageHandler`] one message at a time,
//! [`BatchConsumerRunner`] feeds a [`BatchHandler`] batches. Both run the same loop
//! (a message handler gets batches of one).

use cqrs_core::worker::{LeaseRole, Worker as WorkerHandle};
use rdkafka::consumer::{Consumer, StreamConsumer};

use super::batch::{BatchHandler, OneAtATime};
use super::config::ConsumerConfig;
use super::dead_letter::DeadLetters;
use super::decoder::{Decoder, EnvelopeDecoder};
use super::error::ConsumerError;
use super::handler::MessageHandler;
use super::offsets::OffsetTracker;
use super::process::Described;
use super::progress::ProjectionProgress;
use super::receive::Limits;
use super::running::{ConsumerStats, RunningConsumer};
use super::span::{consume_span, MessageSpan};
use super::worker::Worker;
use crate::KafkaConfig;

/// Feeds a handler from Kafka topics with a consumer group, one message at a time.
///
/// - **Commit after success**: `enable.auto.commit=false`; an offset is committed only
///   after its message was handled (or dead-lettered), periodically
///   ([`ConsumerConfig::commit_interval`], [`ConsumerConfig::commit_every`]), on shutdown,
///   and synchronously before partitions are revoked, so after a rebalance the new owner
///   resumes right after the last handled message.
/// - **Poison messages** (undecodable, or rejected after [`ConsumerConfig::retry`]) go to
///   the dead-letter topic with the reason and their origin in headers; then the runner
///   moves on.
/// - **Transient failures** ([`HandlerError::Transient`](crate::HandlerError::Transient))
///   are retried with backoff, never skipped, and later messages of the partition wait.
///
/// For many messages per database round trip, see [`BatchConsumerRunner`].
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// # use async_trait::async_trait;
/// # use cqrs_core::{Projection, RecordedEvent};
/// # #[derive(Default)] struct OrdersView;
/// # #[async_trait] impl Projection for OrdersView {
/// #     type Error = std::convert::Infallible;
/// #     fn name(&self) -> &str { "orders-view" }
/// #     fn persistence(&self) -> cqrs_core::Persistence { cqrs_core::Persistence::InMemory }
/// #     async fn apply(&mut self, _: &RecordedEvent) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// use cqrs_kafka::{ConsumerConfig, ConsumerRunner, KafkaConfig, ProjectionHandler};
///
/// let config = ConsumerConfig::new("orders-view", ["Order"]).with_dead_letter_topic("orders-view.dlq");
/// let running = ConsumerRunner::new(KafkaConfig::new("127.0.0.1:9092"), config, ProjectionHandler::new(OrdersView))
///     .spawn()?;
/// // ...
/// let view = running.shutdown().await?.into_inner();
/// # Ok(()) }
/// ```
pub struct ConsumerRunner<H: MessageHandler, D: Decoder = EnvelopeDecoder> {
    setup: Setup<D>,
    handler: H,
}

impl<H: MessageHandler> ConsumerRunner<H, EnvelopeDecoder> {
    /// A runner decoding the relay's envelope format.
    pub fn new(kafka: KafkaConfig, config: ConsumerConfig, handler: H) -> Self {
        Self {
            setup: Setup::new(kafka, config),
            handler,
        }
    }
}

impl<H: MessageHandler, D: Decoder> ConsumerRunner<H, D> {
    /// Uses `decoder` instead (e.g. [`RawJsonDecoder`](crate::RawJsonDecoder) for external
    /// producers).
    pub fn with_decoder<D2: Decoder>(self, decoder: D2) -> ConsumerRunner<H, D2> {
        ConsumerRunner {
            setup: self.setup.with_decoder(decoder),
            handler: self.handler,
        }
    }

    /// Creates the clients, subscribes, and runs in a background task. Must be called
    /// within a Tokio runtime.
    pub fn spawn(self) -> Result<RunningConsumer<H>, ConsumerError> {
        let limits = Limits {
            max_len: 1,
            max_wait: std::time::Duration::ZERO,
        };
        self.setup
            .spawn(OneAtATime(self.handler), limits, |adapter| adapter.0)
    }
}

/// Feeds a [`BatchHandler`] from Kafka topics with a consumer group: up to
/// [`ConsumerConfig::max_batch_len`] messages at once, collected for at most
/// [`ConsumerConfig::max_batch_wait`].
///
/// Same guarantees as [`ConsumerRunner`], per batch: offsets are committed only after
/// the whole batch succeeded; a transient failure hands the whole batch again; messages
/// the handler rejects, and undecodable ones, are dead-lettered while the rest count as
/// handled. See [`batch`](crate::batch) for the details.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// # use async_trait::async_trait;
/// # struct Rows;
/// # #[async_trait] impl cqrs_kafka::BatchHandler for Rows {
/// #     async fn handle_batch(&mut self, _: &mut cqrs_kafka::Batch<'_>) -> Result<(), cqrs_kafka::HandlerError> { Ok(()) }
/// # }
/// use std::time::Duration;
/// use cqrs_kafka::{BatchConsumerRunner, ConsumerConfig, KafkaConfig, RawJsonDecoder};
///
/// let config = ConsumerConfig::new("rows-writer", ["readings"])
///     .with_dead_letter_topic("readings.dlq")
///     .with_batches(200, Duration::from_millis(10));
/// let running = BatchConsumerRunner::new(KafkaConfig::new("127.0.0.1:9092"), config, Rows)
///     .with_decoder(RawJsonDecoder::default())
///     .spawn()?;
/// // ...
/// let rows = running.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct BatchConsumerRunner<H: BatchHandler, D: Decoder = EnvelopeDecoder> {
    setup: Setup<D>,
    handler: H,
}

impl<H: BatchHandler> BatchConsumerRunner<H, EnvelopeDecoder> {
    /// A runner decoding the relay's envelope format.
    pub fn new(kafka: KafkaConfig, config: ConsumerConfig, handler: H) -> Self {
        Self {
            setup: Setup::new(kafka, config),
            handler,
        }
    }
}

impl<H: BatchHandler, D: Decoder> BatchConsumerRunner<H, D> {
    /// Uses `decoder` instead (e.g. [`RawJsonDecoder`](crate::RawJsonDecoder) for external
    /// producers).
    pub fn with_decoder<D2: Decoder>(self, decoder: D2) -> BatchConsumerRunner<H, D2> {
        BatchConsumerRunner {
            setup: self.setup.with_decoder(decoder),
            handler: self.handler,
        }
    }

    /// Creates the clients, subscribes, and runs in a background task. Must be called
    /// within a Tokio runtime.
    pub fn spawn(self) -> Result<RunningConsumer<H>, ConsumerError> {
        let limits = Limits {
            max_len: self.setup.config.max_batch_len.max(1),
            max_wait: self.setup.config.max_batch_wait,
        };
        self.setup.spawn(self.handler, limits, |handler| handler)
    }
}

/// What both runners (and the command processor) need besides their handler.
pub(crate) struct Setup<D> {
    kafka: KafkaConfig,
    config: ConsumerConfig,
    decoder: D,
    /// librdkafka properties of the group member only (not of the dead-letter producer).
    consumer_properties: Vec<(&'static str, String)>,
    /// The span each message is handled in: `consume` unless set.
    message_span: MessageSpan,
}

impl Setup<EnvelopeDecoder> {
    pub(crate) fn new(kafka: KafkaConfig, config: ConsumerConfig) -> Self {
        Self {
            kafka,
            config,
            decoder: EnvelopeDecoder,
            consumer_properties: Vec::new(),
            message_span: consume_span,
        }
    }
}

impl<D> Setup<D> {
    pub(crate) fn with_decoder<D2>(self, decoder: D2) -> Setup<D2> {
        Setup {
            kafka: self.kafka,
            config: self.config,
            decoder,
            consumer_properties: self.consumer_properties,
            message_span: self.message_span,
        }
    }

    /// Handles each message in the span `message_span` makes instead of `consume`.
    pub(crate) fn with_message_span(mut self, message_span: MessageSpan) -> Self {
        self.message_span = message_span;
        self
    }

    /// Sets a librdkafka property of the group member (e.g. `fetch.wait.max.ms`), over
    /// the [`KafkaConfig`]'s.
    pub(crate) fn with_consumer_property(mut self, key: &'static str, value: String) -> Self {
        self.consumer_properties.push((key, value));
        self
    }

    /// Creates the clients, subscribes, and runs `handler` in a background task, whose
    /// result is `finish(handler)`. `T` is what the decoder makes of a message. The worker
    /// needs no lease: it reports the role `leader` (`cqrs_worker_up`) once its task runs.
    /// A handler naming its projection gets its progress gauges (see
    /// [`progress`](super::progress)).
    pub(crate) fn spawn<T, B, H>(
        self,
        handler: B,
        limits: Limits,
        finish: fn(B) -> H,
    ) -> Result<RunningConsumer<H>, ConsumerError>
    where
        T: Described,
        B: BatchHandler<T>,
        D: Decoder<T>,
        H: Send + 'static,
    {
        let group = self.config.group_id.clone();
        let setup = |source| ConsumerError::Setup {
            group: group.clone(),
            source,
        };
        let consumer = self.consumer().map_err(setup)?;
        let dead_letters = match &self.config.dead_letter_topic {
            Some(topic) => Some(
                DeadLetters::new(
                    &self.kafka,
                    topic,
                    self.config.dead_letter_max_message_bytes,
                    self.config.dead_letter_max_value_bytes,
                )
                .map_err(setup)?,
            ),
            None => None,
        };
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(setup)?;
        let (config, decoder, message_span) = (self.config, self.decoder, self.message_span);
        let progress = handler.projection_name().map(ProjectionProgress::new);
        Ok(WorkerHandle::spawn(
            group,
            ConsumerStats::default(),
            move |ctx| async move {
                ctx.report_role(LeaseRole::Leader);
                let (stats, stop) = ctx.into_parts();
                let worker = Worker {
                    config,
                    limits,
                    decoder,
                    handler,
                    dead_letters,
                    stats,
                    message_span,
                    progress,
                    items: std::marker::PhantomData,
                };
                worker.run(consumer, stop).await.map(finish)
            },
        ))
    }

    fn consumer(&self) -> Result<StreamConsumer<OffsetTracker>, rdkafka::error::KafkaError> {
        let mut settings = consumer_settings(&self.kafka, &self.config);
        for (key, value) in &self.consumer_properties {
            settings.set(*key, value);
        }
        settings.create_with_context(OffsetTracker::default())
    }
}

/// The librdkafka settings of a consumer runner's group member.
fn consumer_settings(kafka: &KafkaConfig, config: &ConsumerConfig) -> rdkafka::ClientConfig {
    let mut settings = kafka.client_config();
    // A `session.timeout.ms` (or `heartbeat.interval.ms`) set on the KafkaConfig wins over
    // `ConsumerConfig::session_timeout`.
    let session = match settings.get("session.timeout.ms") {
        Some(set) => set.parse::<u128>().unwrap_or(10_000),
        None => config.session_timeout.as_millis().max(1),
    };
    if settings.get("heartbeat.interval.ms").is_none() {
        settings.set("heartbeat.interval.ms", (session / 3).max(1).to_string());
    }
    settings
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // End-of-partition reports, for the processed position (see `positions`).
        .set("enable.partition.eof", "true")
        .set("session.timeout.ms", session.to_string())
        .set(
            "auto.offset.reset",
            if config.start_from_earliest {
                "earliest"
            } else {
                "latest"
            },
        );
    if let Some(instance) = &config.group_instance_id {
        settings.set("group.instance.id", instance);
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_member_asks_for_the_configured_session_timeout_with_heartbeats_every_third() {
        let kafka = KafkaConfig::new("127.0.0.1:9");
        let default = consumer_settings(&kafka, &ConsumerConfig::new("g", ["t"]));
        assert_eq!(default.get("session.timeout.ms"), Some("10000"));
        assert_eq!(default.get("heartbeat.interval.ms"), Some("3333"));
        let config = ConsumerConfig {
            session_timeout: std::time::Duration::from_secs(6),
            ..ConsumerConfig::new("g", ["t"])
        };
        let settings = consumer_settings(&kafka, &config);
        assert_eq!(settings.get("session.timeout.ms"), Some("6000"));
        assert_eq!(settings.get("heartbeat.interval.ms"), Some("2000"));
        assert_eq!(settings.get("enable.auto.commit"), Some("false"));
        assert_eq!(
            default.get("group.instance.id"),
            None,
            "dynamic membership by default"
        );
        let config = ConsumerConfig {
            group_instance_id: Some("pod-0-view".into()),
            ..ConsumerConfig::new("g", ["t"])
        };
        let settings = consumer_settings(&kafka, &config);
        assert_eq!(settings.get("group.instance.id"), Some("pod-0-view"));
    }

    #[test]
    fn a_session_timeout_set_on_the_kafka_config_is_kept() {
        let kafka = KafkaConfig::new("127.0.0.1:9").set("session.timeout.ms", "30000");
        let settings = consumer_settings(&kafka, &ConsumerConfig::new("g", ["t"]));
        assert_eq!(settings.get("session.timeout.ms"), Some("30000"));
        assert_eq!(settings.get("heartbeat.interval.ms"), Some("10000"));
        let kafka = kafka.set("heartbeat.interval.ms", "2500");
        let settings = consumer_settings(&kafka, &ConsumerConfig::new("g", ["t"]));
        assert_eq!(settings.get("heartbeat.interval.ms"), Some("2500"));
    }
}
