//! The Kafka headers of command and reply messages. All values are UTF-8 text; the
//! message value (the JSON envelope or reply) is the source of truth, the headers let
//! tooling, tracing and the reply listener read a message without parsing it.

/// Command id (UUID), on commands and replies.
pub const COMMAND_ID: &str = "command-id";
/// Correlation id (UUID), on commands and replies.
pub const CORRELATION_ID: &str = "correlation-id";
/// Causation id (UUID), on commands that have one.
pub const CAUSATION_ID: &str = "causation-id";
/// Aggregate type the command is routed to.
pub const AGGREGATE_TYPE: &str = "aggregate-type";
/// Command type name.
pub const COMMAND_TYPE: &str = "command-type";
/// Command schema version (decimal).
pub const COMMAND_VERSION: &str = "command-version";
/// Topic the reply goes to, on commands that want one.
pub const REPLY_TO: &str = "reply-to";
/// The command's deadline, RFC 3339 UTC, on commands that have one.
pub const DEADLINE: &str = "deadline";
/// On replies: `accepted`, `refused`, `invalid` or `failed`.
pub const OUTCOME: &str = "outcome";

/// The names above: an envelope header with one of them is carried in the JSON value
/// only, not as a Kafka header of its own.
pub(crate) const RESERVED: &[&str] = &[
    COMMAND_ID,
    CORRELATION_ID,
    CAUSATION_ID,
    AGGREGATE_TYPE,
    COMMAND_TYPE,
    COMMAND_VERSION,
    REPLY_TO,
    DEADLINE,
    OUTCOME,
];
