//! Snapshots: a stored aggregate state that shortens replays.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::JsonPayload;

/// An aggregate's state after `version` events of `stream_id`.
///
/// `schema_version` is the aggregate's
/// [`SNAPSHOT_VERSION`](crate::Aggregate::SNAPSHOT_VERSION) when the snapshot was taken. A
/// snapshot with another schema version, or one that no longer deserializes, is ignored
/// (with a warning) and the aggregate is replayed from its first event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The stream the state belongs to.
    pub stream_id: String,
    /// The stream version the state includes.
    pub version: u64,
    /// Schema version of the serialized state.
    pub schema_version: u32,
    /// The serialized state.
    pub state: JsonPayload,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
}

/// When the command pipeline takes snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotPolicy {
    /// Never (the default).
    #[default]
    Never,
    /// Each time the stream's version crosses a multiple of N.
    EveryNEvents(u64),
}

impl SnapshotPolicy {
    /// True when a command that moved the stream from `before` to `after` should snapshot.
    ///
    /// ```
    /// use cqrs_core::SnapshotPolicy;
    /// let p = SnapshotPolicy::EveryNEvents(10);
    /// assert!(p.should_snapshot(9, 10));
    /// assert!(p.should_snapshot(8, 12));
    /// assert!(!p.should_snapshot(10, 19));
    /// assert!(!SnapshotPolicy::Never.should_snapshot(0, 100));
    /// ```
    pub fn should_snapshot(self, before: u64, after: u64) -> bool {
        match self {
            SnapshotPolicy::Never => false,
            SnapshotPolicy::EveryNEvents(0) => false,
            SnapshotPolicy::EveryNEvents(n) => after / n > before / n,
        }
    }
}
