//! # cqrs-kafka
//!
//! Kafka for cqrs-rs, in both directions:
//!
//! - [`EventRelay`]: the transactional outbox. The event store's global log *is* the
//!   outbox; the relay tails it from its own checkpoint and publishes every event (topic
//!   per aggregate type, key = stream id, envelope in [`headers`]) with an idempotent
//!   producer. The checkpoint only moves past events the broker acknowledged, so a crash
//!   between a commit and the send loses nothing. Works with any
//!   [`EventStore`](cqrs_core::EventStore).
//! - [`ConsumerRunner`]: feeds a [`MessageHandler`] or a [`Projection`](cqrs_core::Projection)
//!   (through [`ProjectionHandler`]; a [`TypedProjection`](cqrs_core::TypedProjection) gets
//!   its aggregate's events decoded) from topics with a consumer group, committing offsets
//!   only after the handler succeeded, dead-lettering poison messages.
//!   [`BatchConsumerRunner`] does the same for a [`BatchHandler`], many messages at once
//!   (one multi-row insert, one transaction), committing only after the whole [`batch`].
//! - A [`command_bus`]: [`KafkaCommandSender`] publishes
//!   [`CommandEnvelope`](cqrs_core::CommandEnvelope)s keyed by aggregate id and awaits their
//!   reply; [`CommandProcessor`] runs them through a
//!   [`CommandRouter`](cqrs_core::CommandRouter) under their command id (one effect per
//!   id) and replies before committing the offset.
//!
//! Both deliver **at least once**, in order per stream (message key). Duplicates carry the
//! same event id; [`handler`] explains how to keep a read model exact.
//!
//! Neither stalls on one message nor stops silently: an event the broker refuses for good
//! stops the relay with an error naming its position or is parked ([`RefusedEvents`]); a
//! dead letter its topic refuses goes as a bounded copy; failures are classified by
//! [`classify`]. Both handles expose `state()` (a
//! [`WorkerStateWatch`](cqrs_core::worker::WorkerStateWatch)) for readiness checks.
//!
//! A consumer also publishes how far in the store's global log its partitions are done,
//! [`ConsumerStats::processed_position`], for read-your-writes
//! (`running.processed_position().wait_for(position, timeout)`); the README's
//! "Read-your-writes" section defines it per partition and states its limits.
//!
//! **Observability**: the relay publishes in `relay publish` spans and puts their W3C trace
//! context in the `traceparent` / `tracestate` headers ([`headers::TRACEPARENT`]);
//! consumers handle each message in a `consume` span continued from it (see
//! [`batch`](crate::batch#tracing) for batch handlers), the command bus sends in
//! `command send` and processes in `command process` spans; the relay, the consumers and
//! the command processor record the metrics of
//! [`cqrs_core::telemetry::metric`], and a consumer runner feeding a [`ProjectionHandler`]
//! its projection's position and lag per partition. The README's "Observability" section
//! lists them.
//!
//! ## Quickstart
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::{sync::Arc, time::Duration};
//! use async_trait::async_trait;
//! use cqrs_core::{EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, RecordedEvent};
//! use cqrs_kafka::{ConsumerConfig, ConsumerRunner, EventRelay, HandlerError, KafkaConfig, MessageHandler, MessageSource};
//!
//! let kafka = KafkaConfig::new("127.0.0.1:9092");
//! cqrs_kafka::create_topics(&kafka, &["Order"], 3, 1).await?;
//!
//! // Command side: append to the store; the relay publishes.
//! let store = Arc::new(InMemoryEventStore::new());
//! let relay = EventRelay::new(store.clone(), kafka.clone()).spawn();
//! let placed = NewEvent::raw("OrderPlaced", 1, JsonPayload::parse(r#"{"total":1250}"#)?);
//! store.append("Order-1", ExpectedVersion::NoStream, vec![placed], &Metadata::default()).await?;
//!
//! // Query side: a handler fed from the `Order` topic.
//! #[derive(Default)]
//! struct Placed { count: u64, last_version: std::collections::HashMap<String, u64> }
//! #[async_trait]
//! impl MessageHandler for Placed {
//!     async fn handle(&mut self, event: &RecordedEvent, _: &MessageSource<'_>) -> Result<(), HandlerError> {
//!         let last = self.last_version.entry(event.stream_id.to_string()).or_default();
//!         if event.stream_version > *last { *last = event.stream_version; self.count += 1; }
//!         Ok(())
//!     }
//! }
//! let consumer = ConsumerRunner::new(kafka, ConsumerConfig::new("placed-counter", ["Order"]), Placed::default()).spawn()?;
//! consumer.wait_for(Duration::from_secs(30), |stats| stats.processed() >= 1).await?;
//! assert_eq!(consumer.shutdown().await?.count, 1);
//! relay.shutdown().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod admin;
mod bounded;
pub mod command_bus;
mod config;
mod consumer;
mod failure;
pub mod headers;
mod logging;
mod relay;
mod topics;
mod trace_headers;

pub use admin::{create_topics, AdminError};
pub use command_bus::{
    CommandProcessor, CommandTopics, KafkaCommandSender, ProcessorConfig, RunningCommandProcessor,
    SenderConfig, SenderSetupError,
};
pub use config::KafkaConfig;
pub use consumer::{batch, handler};
pub use consumer::{
    Batch, BatchConsumerRunner, BatchHandler, BatchItem, ConsumerConfig, ConsumerError,
    ConsumerRunner, ConsumerStats, Decoder, EnvelopeDecoder, HandlerError, IncomingMessage,
    MessageDecodeError, MessageHandler, MessageSource, ProjectionHandler, RawJsonDecoder,
    RunningConsumer,
};
pub use failure::classify;
pub use relay::{EventRelay, RefusedEvents, RelayConfig, RelayError, RelayProgress, RunningRelay};
pub use topics::TopicMapping;
