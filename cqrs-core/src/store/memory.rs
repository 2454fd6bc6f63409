//! The in-memory event store: the embedded default.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::memory_leases::InMemoryLeases;
use super::{
    resolve_stored_ids, validate_append, AppendResult, EventStore, PositionNotifier, PositionWatch,
    RecordedRefusal, StoreLimits,
};
use crate::envelope::{Metadata, RecordedEvent};
use crate::error::StoreError;
use crate::event::NewEvent;
use crate::snapshot::Snapshot;
use crate::version::{Conflict, ExpectedVersion};

/// A thread-safe event store kept in process memory.
///
/// It has the full semantics of the [`EventStore`] contract (optimistic concurrency,
/// idempotent appends, atomic batches, gap-free global log, snapshots, checkpoints,
/// wake-ups) and nothing survives the process. Appends take one write lock, so positions
/// are dense and become visible in order.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use cqrs_core::{EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent};
///
/// let store = InMemoryEventStore::new();
/// let event = NewEvent::raw("Opened", 1, JsonPayload::parse(r#"{"owner":"ada"}"#).unwrap());
/// let result = store
///     .append("Account-1", ExpectedVersion::NoStream, vec![event], &Metadata::default())
///     .await
///     .unwrap();
/// assert_eq!(result.current_version, 1);
/// assert_eq!(store.read_all(1, 10).await.unwrap()[0].position, 1);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryEventStore {
    inner: RwLock<Inner>,
    notifier: PositionNotifier,
    limits: StoreLimits,
    /// Shared by every append without metadata, to save an allocation per append.
    no_metadata: Arc<Metadata>,
    /// Leases of workers on this store (see [`crate::lease`]).
    pub(crate) leases: InMemoryLeases,
}

#[derive(Debug, Default)]
struct Inner {
    /// The global log; the event at index `i` has position `i + 1`.
    log: Vec<RecordedEvent>,
    /// For each stream (keyed by the id its events share), the positions of its events;
    /// index `v` holds version `v + 1`.
    streams: HashMap<Arc<str>, Vec<u64>>,
    /// Position of every stored event id.
    event_ids: HashMap<Uuid, u64>,
    snapshots: HashMap<String, Snapshot>,
    checkpoints: HashMap<String, u64>,
    /// Refused commands by command id.
    refusals: HashMap<Uuid, RecordedRefusal>,
}

impl InMemoryEventStore {
    /// An empty store with default [`StoreLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given limits.
    pub fn with_limits(limits: StoreLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Number of events in the store.
    pub fn len(&self) -> usize {
        self.read().log.len()
    }

    /// True when no event was appended yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // No code that can panic runs under the lock, so a poisoned lock still holds
        // consistent data.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves checkpoint `name` to `position` unless it is already beyond it.
    pub(crate) fn advance_checkpoint(&self, name: &str, position: u64) {
        let mut inner = self.write();
        match inner.checkpoints.get_mut(name) {
            Some(stored) => *stored = (*stored).max(position),
            None => {
                inner.checkpoints.insert(name.to_owned(), position);
            }
        }
    }
}

impl Inner {
    fn stream_version(&self, stream_id: &str) -> u64 {
        self.streams.get(stream_id).map_or(0, |p| p.len() as u64)
    }

    /// The stored events that carry an id of `events`; none (and nothing allocated) for a
    /// batch of new events.
    fn stored_with_ids(&self, events: &[NewEvent]) -> Vec<RecordedEvent> {
        events
            .iter()
            .filter_map(|e| self.event_ids.get(&e.event_id))
            .map(|&position| self.log[position as usize - 1].clone())
            .collect()
    }
}

#[async_trait]
impl EventStore for InMemoryEventStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream_id, &events, metadata, &self.limits)?;
        let mut guard = self.write();
        let inner = &mut *guard;
        let stored = inner.stored_with_ids(&events);
        if !stored.is_empty() {
            let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
            return resolve_stored_ids(stream_id, &ids, stored);
        }
        let current = inner.stream_version(stream_id);
        if !expected.accepts(current) {
            return Err(Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual: current,
            }
            .into());
        }
        if events.is_empty() {
            return Ok(AppendResult {
                current_version: current,
                events: Vec::new(),
                deduplicated: false,
            });
        }
        // No id of the batch is stored (checked above), nor repeated within it
        // (`validate_append`), so every id is claimed below without collision.
        let first_position = inner.log.len() as u64 + 1;
        let stream_key: Arc<str> = match inner.streams.get_key_value(stream_id) {
            Some((key, _)) => key.clone(),
            None => Arc::from(stream_id),
        };
        let recorded_at = Utc::now();
        let metadata = if *metadata == Metadata::default() {
            self.no_metadata.clone()
        } else {
            Arc::new(metadata.clone())
        };
        let mut committed = Vec::with_capacity(events.len());
        for (offset, event) in events.into_iter().enumerate() {
            let position = first_position + offset as u64;
            inner.event_ids.insert(event.event_id, position);
            committed.push(RecordedEvent {
                event_id: event.event_id,
                stream_id: stream_key.clone(),
                stream_version: current + offset as u64 + 1,
                position,
                recorded_at,
                event_type: event.event_type.into(),
                event_version: event.event_version,
                payload: event.payload,
                metadata: metadata.clone(),
            });
        }
        inner.log.extend(committed.iter().cloned());
        let last_position = inner.log.len() as u64;
        inner
            .streams
            .entry(stream_key)
            .or_default()
            .extend(first_position..=last_position);
        drop(guard);
        self.notifier.notify(last_position);
        Ok(AppendResult {
            current_version: current + committed.len() as u64,
            events: committed,
            deduplicated: false,
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.read();
        let Some(positions) = inner.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let start = (from_version.max(1) - 1) as usize;
        Ok(positions
            .iter()
            .skip(start)
            .map(|&p| inner.log[p as usize - 1].clone())
            .collect())
    }

    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.read();
        let start = (from_position.max(1) - 1) as usize;
        if start >= inner.log.len() {
            return Ok(Vec::new());
        }
        let end = start.saturating_add(max).min(inner.log.len());
        Ok(inner.log[start..end].to_vec())
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.read().log.len() as u64)
    }

    fn subscribe(&self) -> PositionWatch {
        self.notifier.subscribe()
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.read().snapshots.get(stream_id).cloned())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut inner = self.write();
        match inner.snapshots.get(&snapshot.stream_id) {
            Some(stored) if stored.version > snapshot.version => {}
            _ => {
                inner.snapshots.insert(snapshot.stream_id.clone(), snapshot);
            }
        }
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.read().checkpoints.get(name).copied())
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.write().checkpoints.insert(name.to_owned(), position);
        Ok(())
    }

    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.read();
        let mut positions: Vec<u64> = ids
            .iter()
            .filter_map(|id| inner.event_ids.get(id).copied())
            .collect();
        // Each stored event once, also when its id is asked for twice.
        positions.sort_unstable();
        positions.dedup();
        Ok(positions
            .into_iter()
            .map(|position| inner.log[position as usize - 1].clone())
            .collect())
    }

    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        let mut inner = self.write();
        Ok(inner
            .refusals
            .entry(refusal.command_id)
            .or_insert(refusal)
            .clone())
    }

    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        Ok(self.read().refusals.get(&command_id).cloned())
    }
}
