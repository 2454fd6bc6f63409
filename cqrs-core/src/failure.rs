//! How a failure is treated by whoever retries it: the one classification every consumer,
//! runner and relay of this workspace uses.

/// Whether retrying a failed operation unchanged can succeed.
///
/// - [`Transient`](FailureKind::Transient): the infrastructure is at fault (connection lost,
///   timeout, serialization failure, server shutting down, broker unavailable). Retry with
///   backoff; never skip the input, because it will succeed once the infrastructure is back.
/// - [`Permanent`](FailureKind::Permanent): the input is at fault (a data exception, an
///   integrity or size limit, a decode error, a domain refusal). Retrying cannot help: set
///   the input aside (dead-letter it with the reason) and move on.
///
/// ```
/// use cqrs_core::{FailureKind, StoreError};
///
/// let refused = StoreError::InvalidInput { stream: "Order-1".into(), reason: "too long".into() };
/// assert_eq!(refused.kind(), FailureKind::Permanent);
/// assert_eq!(StoreError::Timeout { operation: "append" }.kind(), FailureKind::Transient);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// May succeed when retried unchanged: retry with backoff, never skip.
    Transient,
    /// Fails again for the same input: dead-letter it with the reason and move on.
    Permanent,
}

impl FailureKind {
    /// True for [`FailureKind::Transient`].
    pub fn is_transient(self) -> bool {
        self == FailureKind::Transient
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::Transient => "transient",
            FailureKind::Permanent => "permanent",
        })
    }
}
