//! The consumer side: feeds a [`MessageHandler`] (or a [`Projection`](cqrs_core::Projection)
//! via [`ProjectionHandler`]) one message at a time, or a [`BatchHandler`] many at once,
//! from Kafka topics with a consumer group.
//!
//! For each message, in partition order: decode (pluggable [`Decoder`]), handle, and only
//! then mark the offset for commit (for a batch: only once the whole batch is done).
//! Offsets are committed periodically, on shutdown and right before partitions are
//! revoked in a rebalance. Delivery is **at least once**; see [`handler`](crate::handler)
//! for keeping handlers idempotent.

pub mod batch;
mod config;
mod dead_letter;
mod decoder;
mod error;
pub mod handler;
mod message;
mod metrics;
mod offsets;
mod positions;
mod process;
mod progress;
mod receive;
mod runner;
mod running;
mod span;
mod worker;

pub use batch::{Batch, BatchHandler, BatchItem};
pub use config::ConsumerConfig;
pub use decoder::{Decoder, EnvelopeDecoder, MessageDecodeError, RawJsonDecoder};
pub use error::ConsumerError;
pub use handler::{HandlerError, MessageHandler, ProjectionHandler};
pub use message::{IncomingMessage, MessageSource};
pub use runner::{BatchConsumerRunner, ConsumerRunner};
pub use running::{ConsumerStats, RunningConsumer};

// For the command processor, which runs on the same loop with its own decoder and handler.
pub(crate) use process::Described;
pub(crate) use receive::Limits;
pub(crate) use runner::Setup;
