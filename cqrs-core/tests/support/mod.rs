//! A small aggregate and store wrappers that inject failures, shared by the pipeline tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_core::{
    Aggregate, AppendResult, Command, Event, EventStore, ExpectedVersion, InMemoryEventStore,
    Metadata, NewEvent, PositionWatch, RecordedEvent, RecordedRefusal, Snapshot, StoreError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TabEvent {
    Opened { limit: u32 },
    Added { item: String, cents: u32 },
    LimitReached,
}

impl Event for TabEvent {
    const EVENT_TYPES: &'static [&'static str] = &["Opened", "Added", "LimitReached"];
    fn event_type(&self) -> &'static str {
        match self {
            TabEvent::Opened { .. } => "Opened",
            TabEvent::Added { .. } => "Added",
            TabEvent::LimitReached => "LimitReached",
        }
    }
}

#[derive(Debug, Clone)]
pub enum TabCommand {
    Open {
        id: String,
        limit: u32,
    },
    /// Adds items; emits one `Added` per item and `LimitReached` when the total hits the limit.
    Add {
        id: String,
        items: Vec<(String, u32)>,
    },
}

impl Command for TabCommand {
    fn aggregate_id(&self) -> &str {
        match self {
            TabCommand::Open { id, .. } | TabCommand::Add { id, .. } => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TabError {
    #[error("the tab is already open")]
    AlreadyOpen,
    #[error("the tab is not open")]
    NotOpen,
    #[error("the tab's limit of {limit} is reached")]
    Closed { limit: u32 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tab {
    pub open: bool,
    pub limit: u32,
    pub total: u32,
    pub items: Vec<String>,
    pub closed: bool,
}

impl Aggregate for Tab {
    const TYPE: &'static str = "Tab";
    type Command = TabCommand;
    type Event = TabEvent;
    type Error = TabError;
    type Services = ();

    async fn handle(&self, command: &TabCommand, _: &()) -> Result<Vec<TabEvent>, TabError> {
        match command {
            TabCommand::Open { .. } if self.open => Err(TabError::AlreadyOpen),
            TabCommand::Open { limit, .. } => Ok(vec![TabEvent::Opened { limit: *limit }]),
            TabCommand::Add { .. } if !self.open => Err(TabError::NotOpen),
            TabCommand::Add { .. } if self.closed => Err(TabError::Closed { limit: self.limit }),
            TabCommand::Add { items, .. } => {
                let mut events = Vec::new();
                let mut total = self.total;
                for (item, cents) in items {
                    events.push(TabEvent::Added {
                        item: item.clone(),
                        cents: *cents,
                    });
                    total += cents;
                    if total >= self.limit {
                        events.push(TabEvent::LimitReached);
                        break;
                    }
                }
                Ok(events)
            }
        }
    }

    fn apply(&mut self, event: &TabEvent) {
        match event {
            TabEvent::Opened { limit } => {
                self.open = true;
                self.limit = *limit;
            }
            TabEvent::Added { item, cents } => {
                // Each event sees the state left by the previous one.
                assert!(!self.closed, "an item was applied after LimitReached");
                self.total += cents;
                self.items.push(item.clone());
            }
            TabEvent::LimitReached => {
                assert!(
                    self.total >= self.limit,
                    "LimitReached applied before the items that reached it"
                );
                self.closed = true;
            }
        }
    }
}

/// Wraps the in-memory store to inject failures: before each of the first `races` appends
/// another writer appends to the same stream (so the append conflicts), while `down`
/// is set every call fails as `Unavailable`, and the first `blind_lookups` calls of
/// `read_events_by_id` find nothing (as when a racing execution had not stored yet).
#[derive(Default)]
pub struct FaultyStore {
    pub inner: InMemoryEventStore,
    pub races: AtomicU32,
    pub appends: AtomicU32,
    pub lean_loads: AtomicU32,
    pub down: AtomicBool,
    pub blind_lookups: AtomicU32,
    /// While set, `subscribe` hands out a watch that announces nothing (as a store that
    /// does not hear of another process's appends).
    pub silent: AtomicBool,
    /// How many times `head_position` was called.
    pub head_reads: AtomicU32,
    quiet: cqrs_core::PositionNotifier,
}

impl FaultyStore {
    pub fn racing(races: u32) -> Self {
        Self {
            races: AtomicU32::new(races),
            ..Self::default()
        }
    }

    fn guard(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable {
                operation,
                source: "connection refused (injected)".into(),
            })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl EventStore for FaultyStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        self.guard("append")?;
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.races.load(Ordering::SeqCst) > 0 {
            self.races.fetch_sub(1, Ordering::SeqCst);
            let competing = NewEvent::from_event(&TabEvent::Added {
                item: "competitor".into(),
                cents: 1,
            })
            .expect("json");
            self.inner
                .append(
                    stream_id,
                    ExpectedVersion::Any,
                    vec![competing],
                    &Metadata::default(),
                )
                .await?;
        }
        self.inner
            .append(stream_id, expected, events, metadata)
            .await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.guard("read_stream")?;
        self.inner.read_stream(stream_id, from_version).await
    }
    async fn load_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        visit: &mut cqrs_core::StreamVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.guard("load_stream")?;
        self.lean_loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_stream(stream_id, from_version, visit).await
    }
    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.guard("read_all")?;
        self.inner.read_all(from_position, max).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.guard("head_position")?;
        self.head_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.head_position().await
    }
    fn subscribe(&self) -> PositionWatch {
        if self.silent.load(Ordering::SeqCst) {
            self.quiet.subscribe()
        } else {
            self.inner.subscribe()
        }
    }
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.guard("load_snapshot")?;
        self.inner.load_snapshot(stream_id).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.guard("save_snapshot")?;
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.guard("load_checkpoint")?;
        self.inner.load_checkpoint(name).await
    }
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.guard("save_checkpoint")?;
        self.inner.save_checkpoint(name, position).await
    }
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.guard("read_events_by_id")?;
        if self
            .blind_lookups
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Ok(Vec::new());
        }
        self.inner.read_events_by_id(ids).await
    }
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        self.guard("record_refusal")?;
        self.inner.record_refusal(refusal).await
    }
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        self.guard("load_refusal")?;
        self.inner.load_refusal(command_id).await
    }
}

pub fn open(id: &str, limit: u32) -> TabCommand {
    TabCommand::Open {
        id: id.into(),
        limit,
    }
}

pub fn add(id: &str, items: &[(&str, u32)]) -> TabCommand {
    TabCommand::Add {
        id: id.into(),
        items: items.iter().map(|(i, c)| (i.to_string(), *c)).collect(),
    }
}

pub fn arc<S>(s: S) -> Arc<S> {
    Arc::new(s)
}
