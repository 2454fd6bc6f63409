//! Sending a command and awaiting its reply: the [`CommandBus`] trait every bus implements.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::{CommandEnvelope, CommandReply};
use crate::error::BoxError;
use crate::failure::FailureKind;

/// Sends commands and awaits their outcome: in process ([`InProcessBus`](super::InProcessBus))
/// or over a broker (`cqrs_kafka::KafkaCommandSender`), with the same envelopes, replies
/// and guarantees.
///
/// An `Ok` reply is the command's outcome, whatever it is (accepted, refused, invalid,
/// failed). An `Err` means the outcome is unknown: the command may or may not have been
/// executed, and sending the same envelope again (same command id) is safe: it has one
/// effect and returns the first execution's outcome.
#[async_trait]
pub trait CommandBus: Send + Sync + 'static {
    /// Sends `envelope` and waits at most `timeout` for its reply.
    async fn send(
        &self,
        envelope: CommandEnvelope,
        timeout: Duration,
    ) -> Result<CommandReply, SendError>;
}

/// A command's outcome is unknown: no reply came, or the command could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No reply within `waited`. The command may still be executed (a processor retries
    /// transient failures); resend it with the same command id to learn its outcome.
    #[error("command {command_id}: no reply within {waited:?}; it may still be executed, resend it with the same command id")]
    Timeout {
        /// The command.
        command_id: Uuid,
        /// How long the sender waited.
        waited: Duration,
    },
    /// The bus cannot take the command now (broker unreachable, sender shut down).
    #[error("command {command_id}: the command bus is unavailable: {source}")]
    Unavailable {
        /// The command.
        command_id: Uuid,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The bus refuses this command for good (no topic for its aggregate type, too large).
    #[error("command {command_id}: the command bus refused it: {source}")]
    Refused {
        /// The command.
        command_id: Uuid,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The envelope could not be serialized.
    #[error("command {command_id}: cannot encode the envelope: {source}")]
    Encode {
        /// The command.
        command_id: Uuid,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

impl SendError {
    /// [`Timeout`](SendError::Timeout) and [`Unavailable`](SendError::Unavailable) are
    /// transient (send the same envelope again later); the others permanent.
    pub fn kind(&self) -> FailureKind {
        match self {
            SendError::Timeout { .. } | SendError::Unavailable { .. } => FailureKind::Transient,
            SendError::Refused { .. } | SendError::Encode { .. } => FailureKind::Permanent,
        }
    }

    /// The command concerned.
    pub fn command_id(&self) -> Uuid {
        match self {
            SendError::Timeout { command_id, .. }
            | SendError::Unavailable { command_id, .. }
            | SendError::Refused { command_id, .. }
            | SendError::Encode { command_id, .. } => *command_id,
        }
    }
}
