//! Errors of event stores: what a caller can act on.

use crate::failure::FailureKind;
use crate::version::Conflict;

/// A boxed error from a backend driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An event store operation failed.
///
/// Variants say what the caller can do: a [`Conflict`] is retried after reloading;
/// `Unavailable`/`Timeout` are transient infrastructure failures (appends are idempotent by
/// event id, so retrying the same batch is safe); `InvalidInput` will never succeed as is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version; nothing was written.
    #[error(transparent)]
    Conflict(#[from] Conflict),

    /// Some event ids of the batch are already stored, but not as this exact batch in this
    /// stream (a reused id, not a retry). Nothing was written.
    #[error("event id {event_id} of the batch for stream `{stream}` is already stored {detail}")]
    DuplicateEventId {
        /// The stream the batch was appended to.
        stream: String,
        /// The id that is already stored.
        event_id: uuid::Uuid,
        /// Where it is stored.
        detail: String,
    },

    /// The input can never be stored as is (oversized payload, empty stream id, ...).
    #[error("invalid input for stream `{stream}`: {reason}")]
    InvalidInput {
        /// The stream concerned.
        stream: String,
        /// What is wrong.
        reason: String,
    },

    /// The backend cannot be reached (connection refused or lost, pool closed).
    #[error("event store unavailable during {operation}: {source}")]
    Unavailable {
        /// The operation that failed (`append`, `read_all`, ...).
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// The backend did not answer in time.
    #[error("event store timed out during {operation}")]
    Timeout {
        /// The operation that failed.
        operation: &'static str,
    },

    /// The backend aborted a transaction to keep it serializable; retrying may succeed.
    #[error("serialization failure during {operation}: {source}")]
    Serialization {
        /// The operation that failed.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// Data read back from the backend is not what the store wrote (corruption, manual edit).
    #[error("corrupt data in the event store: {0}")]
    Corrupt(String),

    /// The backend refused the data for good: retrying it unchanged fails again (for
    /// PostgreSQL, SQLSTATE classes 22 data exception, 23 integrity violation, 42 syntax or
    /// access rule, 54 program limit, ...). `code` is the backend's error code.
    #[error("event store refused the data during {operation} (code {code}): {source}")]
    Refused {
        /// The operation that failed.
        operation: &'static str,
        /// The backend's error code (SQLSTATE, MongoDB error code).
        code: String,
        /// True when the data itself is refused (a data exception, an integrity or size
        /// limit): the caller's input is at fault. False when the backend refuses the
        /// operation whatever the data (a missing table, a missing privilege): the
        /// service's own setup is at fault.
        input_at_fault: bool,
        /// The driver's error.
        #[source]
        source: BoxError,
    },

    /// Any other backend error.
    #[error("event store error during {operation}: {source}")]
    Backend {
        /// The operation that failed.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// True for failures that may succeed when retried unchanged (unavailable, timeout,
    /// serialization failure).
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// How a consumer or runner treats this failure: unavailable, timeout, serialization
    /// failure, a lost version race ([`Conflict`]: reload and retry) and unclassified
    /// backend errors are [`FailureKind::Transient`] (retried without skipping); a reused
    /// event id, invalid input, refused or corrupt data are [`FailureKind::Permanent`].
    ///
    /// An unclassified [`StoreError::Backend`] is transient on purpose: retrying an input
    /// that can never succeed stalls a pipeline visibly, skipping one that could have
    /// succeeded loses it silently. Stores classify what they recognise as `Refused`.
    pub fn kind(&self) -> FailureKind {
        match self {
            StoreError::Unavailable { .. }
            | StoreError::Timeout { .. }
            | StoreError::Serialization { .. }
            | StoreError::Backend { .. }
            | StoreError::Conflict(_) => FailureKind::Transient,
            StoreError::DuplicateEventId { .. }
            | StoreError::InvalidInput { .. }
            | StoreError::Refused { .. }
            | StoreError::Corrupt(_) => FailureKind::Permanent,
        }
    }

    /// True when the caller's input is at fault (invalid input, data the backend refuses,
    /// a reused event id): an HTTP edge answers 4xx for these, never 5xx. A refusal that is
    /// not the input's fault (`input_at_fault: false`: a missing table or privilege) is not.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidInput { .. }
                | StoreError::Refused {
                    input_at_fault: true,
                    ..
                }
                | StoreError::DuplicateEventId { .. }
        )
    }

    /// The conflict, if this is one.
    pub fn as_conflict(&self) -> Option<&Conflict> {
        match self {
            StoreError::Conflict(c) => Some(c),
            _ => None,
        }
    }
}
