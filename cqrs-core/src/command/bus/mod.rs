//! The command bus: commands sent as [`CommandEnvelope`]s, run by a [`CommandRouter`]
//! through their aggregate's [`Repository`](crate::Repository), answered with a
//! [`CommandReply`].
//!
//! - [`CommandEnvelope`]: command id, correlation and causation ids, aggregate type and
//!   id, command type and version, JSON payload, reply-to, deadline, headers (trace
//!   context).
//! - [`CommandOutcome`]: `Accepted` (stream version, global position, `replayed`),
//!   `Refused` (the domain's code and message), `Invalid` (the envelope is wrong; an
//!   [`InvalidCommand`] code), `Failed` (infrastructure, transient or permanent).
//! - [`CommandRouter`]: aggregate type → repository; [`dispatch`](CommandRouter::dispatch)
//!   turns an envelope into its outcome, never an error.
//! - [`CommandBus`]: `send(envelope, timeout)` → reply. [`InProcessBus`] runs the router
//!   in this process; `cqrs_kafka::KafkaCommandSender` and `cqrs_kafka::CommandProcessor`
//!   carry the same envelopes over Kafka.
//!
//! Commands are idempotent by command id: the router runs each under
//! [`CommandContext::with_command_id`](crate::CommandContext::with_command_id), so a
//! redelivered or resent envelope has one effect and gets the first outcome back
//! (`replayed: true` for an accepted one). A sender that got no reply resends the same
//! envelope.

mod envelope;
mod in_process;
mod outcome;
mod route;
mod router;
mod send;

pub use envelope::CommandEnvelope;
pub use in_process::InProcessBus;
pub use outcome::{CommandOutcome, CommandReply, InvalidCommand};
pub use router::CommandRouter;
pub use send::{CommandBus, SendError};
