//! Errors of the command pipeline: refusals versus infrastructure failures.

use crate::error::StoreError;
use crate::store::RecordedRefusal;
use crate::upcast::DecodeError;
use crate::version::Conflict;

/// Loading an aggregate failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A command was not committed.
///
/// [`Rejected`](CommandError::Rejected) and [`AlreadyRefused`](CommandError::AlreadyRefused)
/// are the domain refusing the command, now or in an earlier execution of its id (the
/// caller's problem, e.g. HTTP 409/422; [`is_rejection`](CommandError::is_rejection));
/// [`CommandIdReused`](CommandError::CommandIdReused) is the caller's mistake too (a 4xx);
/// the other variants are failures of the infrastructure or of stored data
/// ([`kind`](CommandError::kind) says which may pass when retried).
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error + 'static> {
    /// The aggregate refused the command; nothing was written.
    #[error("command refused: {0}")]
    Rejected(#[source] E),

    /// This command id was refused before: the recorded refusal (its code and message),
    /// reported again without deciding. The domain error itself is not stored.
    #[error("command refused ({}): {}", .0.code, .0.message)]
    AlreadyRefused(RecordedRefusal),

    /// This command id was executed before against another aggregate (`recorded_stream`):
    /// a command id names one command. Nothing was decided or written.
    #[error("command id {command_id} was used for `{recorded_stream}`, not `{stream}`")]
    CommandIdReused {
        /// The command id.
        command_id: uuid::Uuid,
        /// The stream this execution was addressed to.
        stream: String,
        /// The stream the command id was executed against.
        recorded_stream: String,
    },

    /// Other writers kept changing the stream; every attempt conflicted.
    #[error("gave up after {attempts} attempts: {last}")]
    TooManyConflicts {
        /// Attempts made.
        attempts: u32,
        /// The last conflict.
        last: Conflict,
    },

    /// A produced event could not be serialized; nothing was written.
    #[error("cannot serialize event `{event_type}` for stream `{stream}`: {source}")]
    Encode {
        /// Target stream.
        stream: String,
        /// The event's type.
        event_type: &'static str,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },

    /// The store failed.
    #[error(transparent)]
    Store(StoreError),

    /// A stored event could not be decoded while loading the aggregate.
    #[error(transparent)]
    Decode(DecodeError),
}

impl<E: std::error::Error + 'static> CommandError<E> {
    /// True when the domain refused the command, now or in an earlier execution of its id
    /// (as opposed to an infrastructure failure).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            CommandError::Rejected(_) | CommandError::AlreadyRefused(_)
        )
    }

    /// Whether running the command again unchanged may succeed: a store outage or a timeout
    /// ([`StoreError::kind`]) or conflicts that outlasted the retries are transient;
    /// refusals, encoding and decoding failures and a reused command id are permanent.
    pub fn kind(&self) -> crate::FailureKind {
        match self {
            CommandError::Store(error) => error.kind(),
            CommandError::TooManyConflicts { .. } => crate::FailureKind::Transient,
            CommandError::Rejected(_)
            | CommandError::AlreadyRefused(_)
            | CommandError::CommandIdReused { .. }
            | CommandError::Encode { .. }
            | CommandError::Decode(_) => crate::FailureKind::Permanent,
        }
    }

    /// The domain error, if the command was refused now ([`CommandError::Rejected`]); `None`
    /// for a recorded refusal ([`CommandError::AlreadyRefused`], whose domain error is not
    /// stored) and every other error. [`Repository::refusal_of`](crate::Repository::refusal_of)
    /// gives the code and message of both kinds.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            CommandError::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: std::error::Error + 'static> From<LoadError> for CommandError<E> {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Store(e) => CommandError::Store(e),
            LoadError::Decode(e) => CommandError::Decode(e),
        }
    }
}
