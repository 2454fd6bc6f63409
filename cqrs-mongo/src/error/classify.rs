//! The mapping of driver errors to typed [`StoreError`]s.
//!
//! The mapping reads server error *codes* and driver error *labels*, never message text.
//! It is split in two steps so it can be tested without a server: [`ErrorFacts::of`]
//! extracts what matters from a driver error, and [`classify`] decides from the facts.

use cqrs_core::StoreError;
use mongodb::error::{
    Error as DriverError, ErrorKind, WriteFailure, RETRYABLE_WRITE_ERROR,
    TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};

/// What the store does with a driver error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A unique index refused a document (server code 11000). The store resolves the
    /// duplicates its own indexes guard (a retried append, a lost race for a version, an
    /// older snapshot); one that reaches the caller is [`StoreError::Refused`].
    DuplicateKey,
    /// The server refuses the data for good (the code, see [`codes::REFUSED`]): a retry
    /// fails the same way, so it is [`StoreError::Refused`] (permanent).
    Refused(i32),
    /// The server could not be reached or is not primary right now.
    Unavailable,
    /// An operation or the network ran out of time.
    Timeout,
    /// A transaction lost a write conflict or was aborted by the server; retrying may succeed.
    Serialization,
    /// Anything else.
    Other,
}

/// The parts of a driver error the mapping depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFacts {
    /// Which kind of driver error it is.
    pub kind: FactKind,
    /// The server's error code (command error, first write error, or write concern error).
    pub code: Option<i32>,
    /// The error labels (`TransientTransactionError`, ...).
    pub labels: Vec<String>,
}

/// The kinds of driver error the mapping distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactKind {
    /// A socket error; `timed_out` when the OS reported a timeout.
    Io {
        /// The I/O error was a timeout.
        timed_out: bool,
    },
    /// No suitable server was found in time.
    ServerSelection,
    /// A connection pool was cleared under the operation, or the client was shut down.
    ConnectionLost,
    /// The server answered with a command error.
    Command,
    /// A write was refused (write error or write concern error).
    Write,
    /// Anything else (authentication, invalid argument, driver-side transaction errors...).
    Other,
}

/// Server codes: <https://github.com/mongodb/mongo/blob/master/src/mongo/base/error_codes.yml>.
pub mod codes {
    /// Duplicate key (and its legacy variants).
    pub const DUPLICATE_KEY: [i32; 3] = [11000, 11001, 12582];
    /// The server or the network ran out of time: MaxTimeMSExpired, NetworkTimeout,
    /// WriteConcernFailed (wtimeout), NetworkInterfaceExceededTimeLimit, ExceededTimeLimit.
    pub const TIMEOUT: [i32; 5] = [50, 89, 64, 202, 262];
    /// Not reachable or not primary: HostUnreachable, HostNotFound, ShutdownInProgress,
    /// FailedToSatisfyReadPreference, PrimarySteppedDown, SocketException, LegacyNotPrimary,
    /// NotWritablePrimary, InterruptedAtShutdown, InterruptedDueToReplStateChange,
    /// NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
    pub const UNAVAILABLE: [i32; 12] = [
        6, 7, 91, 133, 189, 9001, 10058, 10107, 11600, 11602, 13435, 13436,
    ];
    /// The transaction must be retried: LockTimeout, WriteConflict, TransactionTooOld,
    /// SnapshotTooOld, SnapshotUnavailable, NoSuchTransaction.
    pub const SERIALIZATION: [i32; 6] = [24, 112, 225, 239, 246, 251];
    /// The data is refused for good, whatever the server's state: BadValue (2),
    /// FailedToParse (9), TypeMismatch (14), DollarPrefixedFieldName (52), InvalidDBRef
    /// (55), EmptyFieldName (56), DottedFieldName (57), DocumentValidationFailure (121),
    /// BSONObjectTooLarge (10334), KeyTooLong (17280), a document grown over 16 MB by an
    /// update (17419).
    pub const REFUSED: [i32; 11] = [2, 9, 14, 52, 55, 56, 57, 121, 10334, 17280, 17419];
}

impl ErrorFacts {
    /// Extracts the facts from a driver error.
    pub fn of(error: &DriverError) -> Self {
        let (kind, code) = match error.kind.as_ref() {
            ErrorKind::Io(io) => (
                FactKind::Io {
                    timed_out: io.kind() == std::io::ErrorKind::TimedOut,
                },
                None,
            ),
            ErrorKind::ServerSelection { .. } => (FactKind::ServerSelection, None),
            ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::Shutdown => {
                (FactKind::ConnectionLost, None)
            }
            ErrorKind::Command(command) => (FactKind::Command, Some(command.code)),
            ErrorKind::Write(WriteFailure::WriteError(write)) => {
                (FactKind::Write, Some(write.code))
            }
            ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => {
                (FactKind::Write, Some(concern.code))
            }
            ErrorKind::InsertMany(insert) => {
                let code = insert
                    .write_errors
                    .as_ref()
                    .and_then(|errors| errors.first().map(|e| e.code))
                    .or_else(|| insert.write_concern_error.as_ref().map(|e| e.code));
                (FactKind::Write, code)
            }
            _ => (FactKind::Other, None),
        };
        let mut labels: Vec<String> = error.labels().iter().cloned().collect();
        // Labels of wrapped source errors count too (the driver checks them the same way).
        for label in [
            TRANSIENT_TRANSACTION_ERROR,
            UNKNOWN_TRANSACTION_COMMIT_RESULT,
            RETRYABLE_WRITE_ERROR,
        ] {
            if !labels.iter().any(|l| l == label) && error.contains_label(label) {
                labels.push(label.to_owned());
            }
        }
        labels.sort();
        Self { kind, code, labels }
    }

    /// True when the error carries `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }
}

/// Decides what an error means for the store.
///
/// Order matters: a duplicate key is never transient; a network error inside a transaction
/// carries `TransientTransactionError` but is reported as unavailability, which says more;
/// a retryable label (`RetryableWriteError`, `TransientTransactionError`) wins over a
/// refusing code, so only errors the server itself does not call retryable are
/// [`ErrorClass::Refused`]. Unknown codes stay [`ErrorClass::Other`] (transient).
pub fn classify(facts: &ErrorFacts) -> ErrorClass {
    let code = facts.code;
    let is = |list: &[i32]| code.is_some_and(|c| list.contains(&c));
    if is(&codes::DUPLICATE_KEY) {
        return ErrorClass::DuplicateKey;
    }
    match facts.kind {
        FactKind::Io { timed_out: true } => return ErrorClass::Timeout,
        FactKind::Io { timed_out: false }
        | FactKind::ServerSelection
        | FactKind::ConnectionLost => return ErrorClass::Unavailable,
        _ => {}
    }
    if is(&codes::TIMEOUT) {
        ErrorClass::Timeout
    } else if is(&codes::UNAVAILABLE) || facts.has_label(RETRYABLE_WRITE_ERROR) {
        ErrorClass::Unavailable
    } else if is(&codes::SERIALIZATION) || facts.has_label(TRANSIENT_TRANSACTION_ERROR) {
        ErrorClass::Serialization
    } else if let Some(code) = code.filter(|c| codes::REFUSED.contains(c)) {
        ErrorClass::Refused(code)
    } else {
        ErrorClass::Other
    }
}

/// Maps a driver error to the store error a caller can act on.
pub fn store_error(operation: &'static str, error: DriverError) -> StoreError {
    let facts = ErrorFacts::of(&error);
    let class = classify(&facts);
    tracing::debug!(operation, ?class, code = ?facts.code, labels = ?facts.labels, %error, "mongodb error");
    from_class(operation, class, Box::new(error))
}

/// The store error for an error of the given class: unavailable, timeout and serialization
/// failures are transient, a duplicate key that reached here (not one of the store's own
/// guards) and refused data are [`StoreError::Refused`] (permanent), anything else
/// [`StoreError::Backend`] (transient).
pub fn from_class(
    operation: &'static str,
    class: ErrorClass,
    source: cqrs_core::BoxError,
) -> StoreError {
    match class {
        ErrorClass::Unavailable => StoreError::Unavailable { operation, source },
        ErrorClass::Timeout => StoreError::Timeout { operation },
        ErrorClass::Serialization => StoreError::Serialization { operation, source },
        ErrorClass::DuplicateKey => StoreError::Refused {
            operation,
            code: codes::DUPLICATE_KEY[0].to_string(),
            input_at_fault: true,
            source,
        },
        // Every code classified as refusing is about the document written (a bad value,
        // a failed validation, a size or key limit).
        ErrorClass::Refused(code) => StoreError::Refused {
            operation,
            code: code.to_string(),
            input_at_fault: true,
            source,
        },
        ErrorClass::Other => StoreError::Backend { operation, source },
    }
}

/// Stored data that does not decode.
pub fn corrupt(detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt(detail.into())
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
