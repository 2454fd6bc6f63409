//! What became of a command sent over a bus: the [`CommandOutcome`] in a [`CommandReply`].

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CommandEnvelope;
use crate::failure::FailureKind;

/// The outcome of one command, in four classes a caller acts on differently.
///
/// | outcome | meaning | a processor then |
/// |---|---|---|
/// | `Accepted` | committed (or committed before, `replayed`) | commits the offset |
/// | `Refused` | the domain said no, now or in an earlier execution of the command id | commits the offset |
/// | `Invalid` | the envelope is wrong (unknown aggregate type, undecodable payload...) | replies, dead-letters it |
/// | `Failed` | infrastructure: `transient` is retried by the processor and never replied, `permanent` is | replies, dead-letters it |
///
/// Serialized internally tagged by `outcome`:
///
/// ```
/// use cqrs_core::CommandOutcome;
/// let refused = CommandOutcome::Refused { code: "out_of_stock".into(), message: "sku-1: 0 left".into() };
/// assert_eq!(
///     serde_json::to_string(&refused).unwrap(),
///     r#"{"outcome":"refused","code":"out_of_stock","message":"sku-1: 0 left"}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommandOutcome {
    /// The command was committed.
    Accepted {
        /// The aggregate's stream.
        stream_id: String,
        /// The stream version after the command.
        version: u64,
        /// The global position of its last event: what a reader waits for to see the
        /// command's effect. `None` when it decided no event.
        position: Option<u64>,
        /// How many events it appended.
        events: usize,
        /// True when this command id had been executed before and this is that
        /// execution's outcome (nothing was decided or written now).
        replayed: bool,
    },
    /// The domain refused the command (now, or in an earlier execution of its id).
    Refused {
        /// The refusal's stable code ([`Aggregate::refusal_code`](crate::Aggregate::refusal_code)).
        code: String,
        /// The domain error's message.
        message: String,
    },
    /// The envelope cannot be executed as it is: retrying it unchanged never helps.
    Invalid {
        /// What is wrong.
        code: InvalidCommand,
        /// Details, naming the command.
        message: String,
    },
    /// The infrastructure failed (store, serialization of an event...).
    Failed {
        /// Whether retrying unchanged may succeed.
        #[serde(with = "failure_kind")]
        kind: FailureKind,
        /// The error, naming the command.
        message: String,
    },
}

impl CommandOutcome {
    /// True for [`CommandOutcome::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, CommandOutcome::Accepted { .. })
    }

    /// True for a transient [`CommandOutcome::Failed`]: the command may succeed when run
    /// again unchanged (a processor retries it and never replies this).
    pub fn is_transient(&self) -> bool {
        matches!(self, CommandOutcome::Failed { kind, .. } if kind.is_transient())
    }

    /// True when a processor dead-letters the command after replying:
    /// [`Invalid`](CommandOutcome::Invalid), or a permanent [`Failed`](CommandOutcome::Failed).
    pub fn is_poison(&self) -> bool {
        match self {
            CommandOutcome::Invalid { .. } => true,
            CommandOutcome::Failed { kind, .. } => !kind.is_transient(),
            CommandOutcome::Accepted { .. } | CommandOutcome::Refused { .. } => false,
        }
    }

    /// `accepted`, `refused`, `invalid` or `failed`: the `outcome` tag.
    pub fn name(&self) -> &'static str {
        match self {
            CommandOutcome::Accepted { .. } => "accepted",
            CommandOutcome::Refused { .. } => "refused",
            CommandOutcome::Invalid { .. } => "invalid",
            CommandOutcome::Failed { .. } => "failed",
        }
    }

    pub(super) fn invalid(code: InvalidCommand, message: impl Into<String>) -> Self {
        CommandOutcome::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandOutcome::Accepted {
                stream_id,
                version,
                replayed,
                ..
            } => {
                let replayed = if *replayed { " (replayed)" } else { "" };
                write!(f, "accepted: `{stream_id}` at version {version}{replayed}")
            }
            CommandOutcome::Refused { code, message } => write!(f, "refused ({code}): {message}"),
            CommandOutcome::Invalid { code, message } => write!(f, "invalid ({code}): {message}"),
            CommandOutcome::Failed { kind, message } => write!(f, "failed ({kind}): {message}"),
        }
    }
}

/// Why an envelope cannot be executed ([`CommandOutcome::Invalid`]). Serialized in
/// `snake_case`; a code this version does not know reads as [`Other`](InvalidCommand::Other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidCommand {
    /// No route for the envelope's `aggregate_type`.
    UnknownAggregateType,
    /// The payload does not decode into the aggregate's command type.
    UndecodablePayload,
    /// The message is no command envelope at all (a processor read the command id and the
    /// reply topic from its headers).
    UndecodableEnvelope,
    /// The envelope's `aggregate_id` differs from the decoded command's.
    AggregateIdMismatch,
    /// The envelope's `command_version` is newer than the command type this process
    /// decodes ([`Command::command_version`](crate::Command::command_version)).
    UnsupportedCommandVersion,
    /// The deadline passed before the command was executed.
    DeadlinePassed,
    /// The command id was executed before against another aggregate.
    CommandIdReused,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

impl InvalidCommand {
    /// The code as serialized (`unknown_aggregate_type`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidCommand::UnknownAggregateType => "unknown_aggregate_type",
            InvalidCommand::UndecodablePayload => "undecodable_payload",
            InvalidCommand::UndecodableEnvelope => "undecodable_envelope",
            InvalidCommand::AggregateIdMismatch => "aggregate_id_mismatch",
            InvalidCommand::UnsupportedCommandVersion => "unsupported_command_version",
            InvalidCommand::DeadlinePassed => "deadline_passed",
            InvalidCommand::CommandIdReused => "command_id_reused",
            InvalidCommand::Other => "other",
        }
    }
}

impl fmt::Display for InvalidCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to one command: its id, its correlation, and its outcome (flattened:
/// `{"command_id":…,"correlation_id":…,"outcome":"accepted","stream_id":…}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The command answered.
    pub command_id: Uuid,
    /// Its correlation id.
    pub correlation_id: Uuid,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

impl CommandReply {
    /// The reply to `envelope`.
    pub fn to(envelope: &CommandEnvelope, outcome: CommandOutcome) -> Self {
        Self {
            command_id: envelope.command_id,
            correlation_id: envelope.correlation_id,
            outcome,
        }
    }
}

/// [`FailureKind`] as `transient` / `permanent`.
mod failure_kind {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::failure::FailureKind;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Transient,
        Permanent,
    }

    pub(super) fn serialize<S: Serializer>(kind: &FailureKind, s: S) -> Result<S::Ok, S::Error> {
        match kind {
            FailureKind::Transient => Kind::Transient,
            FailureKind::Permanent => Kind::Permanent,
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FailureKind, D::Error> {
        Ok(match Kind::deserialize(d)? {
            Kind::Transient => FailureKind::Transient,
            Kind::Permanent => FailureKind::Permanent,
        })
    }
}
