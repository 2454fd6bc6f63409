//! Optimistic concurrency: what the writer expects a stream's version to be.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The writer's expectation about a stream's current version, checked atomically by
/// [`EventStore::append`](crate::EventStore::append).
///
/// A stream's version is the number of events in it; a stream that does not exist has
/// version 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check: append to whatever is there.
    Any,
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream must already exist (version 1 or more).
    StreamExists,
    /// The stream must be at exactly this version. `Exact(0)` is the same as `NoStream`.
    Exact(u64),
}

impl ExpectedVersion {
    /// True when a stream at version `actual` satisfies this expectation.
    ///
    /// ```
    /// use cqrs_core::ExpectedVersion::*;
    /// assert!(NoStream.accepts(0) && !NoStream.accepts(1));
    /// assert!(StreamExists.accepts(3) && !StreamExists.accepts(0));
    /// assert!(Exact(2).accepts(2) && !Exact(2).accepts(3));
    /// assert!(Any.accepts(0) && Any.accepts(9));
    /// ```
    pub fn accepts(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::StreamExists => actual > 0,
            ExpectedVersion::Exact(v) => actual == v,
        }
    }

    /// The expectation for a stream loaded at `version` (0 = not found).
    pub fn from_loaded(version: u64) -> Self {
        if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// An append was refused because the stream was not at the expected version.
///
/// Nothing of the refused batch was written. Callers match on it (the command pipeline
/// reloads and retries); nobody parses its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conflict on stream `{stream}`: expected {expected}, found version {actual}")]
pub struct Conflict {
    /// The stream that was appended to.
    pub stream: String,
    /// What the writer expected.
    pub expected: ExpectedVersion,
    /// The stream's version when the append was checked (0 = no stream).
    pub actual: u64,
}
