//! The consumer side: feeds a [`MessageHandler`] (or a [`Projection`](cqrs_core::Projection)
//! via [`ProjectionHandler`]) from Kafka topics with a consumer group.
//!
//! For each message, in partition order: decode (pluggable [`Decoder`]), handle, and only
//! then mark the offset for commit. Offsets are committed periodically, on shutdown and
//! right before partitions are revoked in a rebalance. Delivery is **at least once**; see
//! [`handler`](crate::handler) for keeping handlers idempotent.

mod config;
mod dead_letter;
mod decoder;
mod error;
pub mod handler;
mod message;
mod offsets;
mod running;
mod worker;

use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::sync::watch;

pub use config::ConsumerConfig;
pub use decoder::{DecodeError, Decoder, EnvelopeDecoder, RawJsonDecoder};
pub use error::ConsumerError;
pub use handler::{HandlerError, MessageHandler, ProjectionHandler};
pub use message::{IncomingMessage, MessageSource};
pub use running::{ConsumerStats, RunningConsumer};

use dead_letter::DeadLetters;
use offsets::OffsetTracker;
use worker::Worker;

use crate::KafkaConfig;

/// Feeds a handler from Kafka topics with a consumer group.
///
/// - **Commit after success**: `enable.auto.commit=false`; an offset is committed only
///   after its message was handled (or dead-lettered), periodically
///   ([`ConsumerConfig::commit_interval`], [`ConsumerConfig::commit_every`]), on shutdown,
///   and synchronously before partitions are revoked, so after a rebalance the new owner
///   resumes right after the last handled message.
/// - **Poison messages** (undecodable, or rejected after [`ConsumerConfig::retry`]) go to
///   the dead-letter topic with the reason and their origin in headers; then the runner
///   moves on.
/// - **Transient failures** ([`HandlerError::Transient`]) are retried with backoff, never
///   skipped, and later messages of the partition wait.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// # use async_trait::async_trait;
/// # use cqrs_core::{Projection, RecordedEvent};
/// # #[derive(Default)] struct OrdersView;
/// # #[async_trait] impl Projection for OrdersView {
/// #     type Error = std::convert::Infallible;
/// #     fn name(&self) -> &str { "orders-view" }
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
    kafka: KafkaConfig,
    config: ConsumerConfig,
    decoder: D,
    handler: H,
}

impl<H: MessageHandler> ConsumerRunner<H, EnvelopeDecoder> {
    /// A runner decoding the relay's envelope format.
    pub fn new(kafka: KafkaConfig, config: ConsumerConfig, handler: H) -> Self {
        Self {
            kafka,
            config,
            decoder: EnvelopeDecoder,
            handler,
        }
    }
}

impl<H: MessageHandler, D: Decoder> ConsumerRunner<H, D> {
    /// Uses `decoder` instead (e.g. [`RawJsonDecoder`] for external producers).
    pub fn with_decoder<D2: Decoder>(self, decoder: D2) -> ConsumerRunner<H, D2> {
        ConsumerRunner {
            kafka: self.kafka,
            config: self.config,
            decoder,
            handler: self.handler,
        }
    }

    /// Creates the clients, subscribes, and runs in a background task. Must be called
    /// within a Tokio runtime.
    pub fn spawn(self) -> Result<RunningConsumer<H>, ConsumerError> {
        let group = self.config.group_id.clone();
        let setup = |source| ConsumerError::Setup {
            group: group.clone(),
            source,
        };
        let consumer = self.consumer().map_err(setup)?;
        let dead_letters = match &self.config.dead_letter_topic {
            Some(topic) => Some(DeadLetters::new(&self.kafka, topic).map_err(setup)?),
            None => None,
        };
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(setup)?;
        let (stats_tx, stats) = watch::channel(ConsumerStats::default());
        let (stop, stop_rx) = watch::channel(false);
        let worker = Worker {
            config: self.config,
            decoder: self.decoder,
            handler: self.handler,
            dead_letters,
            stats: stats_tx,
        };
        let task = tokio::spawn(worker.run(consumer, stop_rx));
        Ok(RunningConsumer {
            group,
            stats,
            stop,
            task,
        })
    }

    fn consumer(&self) -> Result<StreamConsumer<OffsetTracker>, rdkafka::error::KafkaError> {
        let mut config = self.kafka.client_config();
        config
            .set("group.id", &self.config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                if self.config.start_from_earliest {
                    "earliest"
                } else {
                    "latest"
                },
            );
        config.create_with_context(OffsetTracker::default())
    }
}
