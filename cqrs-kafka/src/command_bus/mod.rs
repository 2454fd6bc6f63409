//! The command bus over Kafka: [`KafkaCommandSender`] publishes
//! [`CommandEnvelope`](cqrs_core::CommandEnvelope)s and awaits their
//! [`CommandReply`](cqrs_core::CommandReply); [`CommandProcessor`] consumes them with a
//! consumer group, runs them through a [`CommandRouter`](cqrs_core::CommandRouter) and
//! publishes the outcome to the command's reply topic.
//!
//! - **Topics**: commands on `{prefix}{AggregateType}.commands` ([`CommandTopics`]), keyed
//!   by aggregate id, so one aggregate's commands are handled in order by one processor;
//!   replies on each sender's reply topic, keyed by command id; invalid commands on the
//!   processor's dead-letter topic. No topic is created here: see
//!   [`create_topics`](crate::create_topics).
//! - **Messages**: the JSON envelope or reply as the value, and [`headers`] for tooling
//!   and tracing (the envelope's own headers under their own names).
//! - **Tracing**: the sender publishes in a `command send` span whose context the message
//!   carries (`traceparent`, `tracestate`), the processor runs each command in a
//!   `command process` span continued from it, so the command pipeline's spans join the
//!   sender's trace.
//! - **Guarantees**: at-least-once delivery of commands, exactly one effect per command id
//!   (the store recognises a repeat), the processor's offset committed only after the
//!   reply was acknowledged by the broker, transient failures retried and never skipped.

pub mod headers;

mod handler;
mod listener;
mod message;
mod pending;
mod processor;
mod producer;
mod reply;
mod sender;
mod topics;
mod trace;

pub use processor::{CommandProcessor, ProcessorConfig, RunningCommandProcessor};
pub use sender::{KafkaCommandSender, SenderConfig, SenderSetupError};
pub use topics::CommandTopics;
