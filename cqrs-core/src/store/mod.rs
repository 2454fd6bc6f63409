//! The [`EventStore`] trait, the rules every implementation shares ([`validate_append`],
//! [`idempotency`]) and the in-memory implementation.

pub mod commands;
pub mod idempotency;
mod limits;
mod memory;
mod memory_leases;
mod notify;

use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

pub use commands::{command_event_id, RecordedRefusal};
pub use idempotency::resolve_stored_ids;
pub use limits::{validate_append, StoreLimits, METADATA_HEADER_OVERHEAD_BYTES};
pub use memory::InMemoryEventStore;
pub use notify::{PositionNotifier, PositionWatch};

use crate::envelope::{Metadata, RecordedEvent, StreamEventRef};
use crate::error::StoreError;
use crate::event::NewEvent;
use crate::snapshot::Snapshot;
use crate::version::ExpectedVersion;

/// What an append committed.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendResult {
    /// The stream's version after the append (the last event's version).
    pub current_version: u64,
    /// The committed events with their envelopes, in order.
    pub events: Vec<RecordedEvent>,
    /// True when the batch had been stored before (a retry): nothing new was written and
    /// `events` are the originals.
    pub deduplicated: bool,
}

/// What [`EventStore::load_stream`] feeds each event to: it returns
/// [`ControlFlow::Break`] to stop the read early (a decoding failure, say).
pub type StreamVisitor<'v> = dyn FnMut(StreamEventRef<'_>) -> ControlFlow<()> + Send + 'v;

/// An event store: streams of events, a global log, snapshots and checkpoints.
///
/// # Guarantees (checked by [`testing::contract`](crate) for every implementation)
/// - **Optimistic concurrency**: `append` checks [`ExpectedVersion`] and writes atomically;
///   a mismatch is [`StoreError::Conflict`] and nothing is written.
/// - **Atomic batches**: all events of one append are stored, or none.
/// - **Idempotency**: re-appending a batch whose event ids are already stored, in the same
///   stream and order, returns the original [`AppendResult`] with `deduplicated = true`.
///   Reusing an id in any other way is [`StoreError::DuplicateEventId`]. Implementations
///   apply the rules of [`idempotency`] ([`validate_append`], [`resolve_stored_ids`]).
/// - **Empty appends** write nothing, still check the expected version, and return the
///   stream's current version with no events.
/// - **Ordering**: `read_stream` returns a stream's events by version; `read_all` returns
///   the global log by position.
/// - **Gap-free catch-up**: `read_all` only returns events below which no event can still
///   appear. A reader that resumes from the last position it saw never skips an event,
///   even when concurrent transactions commit out of position order.
/// - **Wake-ups**: [`subscribe`](EventStore::subscribe) notifies readers of new events
///   without polling.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// What kind of store this is (`memory`, `postgres`, `mongo`): the `store` label of
    /// the [metrics](crate::telemetry::metric). A wrapper around another store reports
    /// the wrapped store's kind.
    fn kind(&self) -> &'static str {
        "custom"
    }

    /// Appends `events` to `stream_id` if the stream is at `expected`.
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError>;

    /// The events of `stream_id` with version `>= from_version`, in version order.
    /// A stream that does not exist reads as empty.
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Feeds the events of [`read_stream`](EventStore::read_stream) to `visit`, in version
    /// order, with only what rebuilding an aggregate needs, and stops early when `visit`
    /// breaks. The command pipeline loads aggregates with it.
    ///
    /// Stores override it to decode each event while they read (the caller's work overlaps
    /// the read, and nothing is collected or copied) and to skip envelope columns
    /// (metadata, ids, positions, timestamps). The events visited before a store error are
    /// the stream's first events from `from_version`, each visited once.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use cqrs_core::{EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent};
    /// # futures::executor::block_on(async {
    /// let store = InMemoryEventStore::new();
    /// let added = || NewEvent::raw("Added", 1, JsonPayload::parse(r#"{"by":2}"#).unwrap());
    /// let events = vec![added(), added()];
    /// store.append("Counter-1", ExpectedVersion::NoStream, events, &Metadata::default()).await.unwrap();
    ///
    /// let mut versions = Vec::new();
    /// store.load_stream("Counter-1", 1, &mut |event| {
    ///     versions.push(event.stream_version);
    ///     ControlFlow::Continue(())
    /// }).await.unwrap();
    /// assert_eq!(versions, [1, 2]);
    /// # });
    /// ```
    async fn load_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        visit: &mut StreamVisitor<'_>,
    ) -> Result<(), StoreError> {
        for event in self.read_stream(stream_id, from_version).await? {
            if visit(StreamEventRef::from(&event)).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Up to `max` events of the global log with position `>= from_position`, in position
    /// order, never past a position below which an event may still be committed.
    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The highest position a gap-safe reader can currently see (0 for an empty log).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// A watch that wakes up when the head position moves.
    fn subscribe(&self) -> PositionWatch;

    /// The latest snapshot of `stream_id`, if any.
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError>;

    /// Stores a snapshot. A snapshot older than the stored one (lower version) is ignored.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;

    /// The checkpoint (last processed position) of the named consumer, if any.
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError>;

    /// Sets the checkpoint of the named consumer (also backwards, for rebuilds).
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError>;

    /// The stored events carrying any of `ids`, in any order; ids not stored are left out.
    /// The command pipeline finds what a repeated command appended with it
    /// ([`command_event_id`]).
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Records `refusal` unless a refusal is recorded for its command id, and returns the
    /// recorded one: of two racing executions of one command id, the first refusal stored
    /// wins. See [`commands`].
    async fn record_refusal(&self, refusal: RecordedRefusal)
        -> Result<RecordedRefusal, StoreError>;

    /// The refusal recorded for `command_id`, if any.
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError>;
}

#[async_trait]
impl<S: EventStore + ?Sized> EventStore for Arc<S> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        (**self).append(stream_id, expected, events, metadata).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_stream(stream_id, from_version).await
    }
    async fn load_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        visit: &mut StreamVisitor<'_>,
    ) -> Result<(), StoreError> {
        (**self).load_stream(stream_id, from_version, visit).await
    }
    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_all(from_position, max).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        (**self).head_position().await
    }
    fn subscribe(&self) -> PositionWatch {
        (**self).subscribe()
    }
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        (**self).load_snapshot(stream_id).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        (**self).save_snapshot(snapshot).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        (**self).load_checkpoint(name).await
    }
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        (**self).save_checkpoint(name, position).await
    }
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_events_by_id(ids).await
    }
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        (**self).record_refusal(refusal).await
    }
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        (**self).load_refusal(command_id).await
    }
}
