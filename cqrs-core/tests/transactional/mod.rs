//! A transactional store for testing the one batch loop of `TransactionalRunner`: the log is
//! an `InMemoryEventStore`; checkpoints and the read model live in one committed state
//! behind a lock that a transaction holds from `lock_checkpoint` to its end (PostgreSQL's
//! row lock), and a transaction writes a staged copy that only `commit` publishes. Faults
//! are injected per call.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, FailureKind, InMemoryEventStore, JsonPayload,
    Metadata, NewEvent, PositionWatch, RecordedEvent, RecordedRefusal, Snapshot, StoreError,
    StreamVisitor, TransactionalProjection, TransactionalStore,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// The read model: the positions applied, in order (a replayed event shows twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub applied: Vec<u64>,
}

/// What commits atomically: every checkpoint and the read model.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub checkpoints: HashMap<String, u64>,
    pub model: Model,
}

/// Faults the next calls meet, each counted down as it strikes.
#[derive(Debug, Default)]
pub struct Faults {
    /// `begin_transaction` fails (unavailable).
    pub begin: AtomicU32,
    /// `commit_transaction` fails (unavailable) without committing.
    pub commit: AtomicU32,
    /// `commit_transaction` commits, then reports a lost connection (result unknown).
    pub commit_lands_then_fails: AtomicU32,
}

fn strikes(fault: &AtomicU32) -> bool {
    fault
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn unavailable(operation: &'static str) -> StoreError {
    StoreError::Unavailable {
        operation,
        source: "connection reset by the test".into(),
    }
}

#[derive(Debug, Default)]
pub struct Calls {
    pub locks: AtomicU32,
    /// `EventStore::read_all` (outside a transaction).
    pub reads: AtomicU32,
    pub commits: AtomicU32,
    pub rollbacks: AtomicU32,
}

#[derive(Default)]
pub struct TestStore {
    log: InMemoryEventStore,
    committed: Arc<tokio::sync::Mutex<Committed>>,
    pub faults: Faults,
    pub calls: Calls,
}

pub struct Transaction {
    lock: Option<OwnedMutexGuard<Committed>>,
    staged: Committed,
}

impl TestStore {
    /// Appends `n` events to streams `S-0`..`S-2`; returns their positions.
    pub async fn append_events(&self, n: usize) -> Vec<u64> {
        let mut positions = Vec::new();
        for i in 0..n {
            let event = NewEvent::raw("Ticked", 1, JsonPayload::parse("{}").unwrap());
            let appended = self
                .log
                .append(
                    &format!("S-{}", i % 3),
                    ExpectedVersion::Any,
                    vec![event],
                    &Metadata::default(),
                )
                .await
                .expect("append");
            positions.push(appended.events[0].position);
        }
        positions
    }

    /// What is committed now.
    pub async fn committed(&self) -> Committed {
        self.committed.lock().await.clone()
    }

    pub async fn model(&self) -> Model {
        self.committed().await.model
    }
}

#[async_trait]
impl TransactionalStore for TestStore {
    type Transaction = Transaction;
    type Connection = Model;

    async fn begin_transaction(&self) -> Result<Transaction, StoreError> {
        if strikes(&self.faults.begin) {
            return Err(unavailable("begin"));
        }
        Ok(Transaction {
            lock: None,
            staged: Committed::default(),
        })
    }

    async fn lock_checkpoint(&self, tx: &mut Transaction, name: &str) -> Result<u64, StoreError> {
        self.calls.locks.fetch_add(1, Ordering::SeqCst);
        let lock = self.committed.clone().lock_owned().await;
        tx.staged = lock.clone();
        tx.lock = Some(lock);
        Ok(*tx.staged.checkpoints.entry(name.to_owned()).or_insert(0))
    }

    async fn read_all_in(
        &self,
        _: &mut Transaction,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read_all(from_position, max).await
    }

    fn connection(tx: &mut Transaction) -> &mut Model {
        &mut tx.staged.model
    }

    async fn save_checkpoint_in(
        &self,
        tx: &mut Transaction,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        tx.staged.checkpoints.insert(name.to_owned(), position);
        Ok(())
    }

    /// The log's in-process lease, checked by renewing it.
    async fn fence_in(
        &self,
        _: &mut Transaction,
        lease: &cqrs_core::lease::Lease,
    ) -> Result<bool, StoreError> {
        cqrs_core::lease::LeaseStore::renew(&self.log, lease).await
    }

    async fn commit_transaction(&self, tx: Transaction) -> Result<(), StoreError> {
        if strikes(&self.faults.commit) {
            return Err(unavailable("commit"));
        }
        let Transaction { lock, staged } = tx;
        if let Some(mut lock) = lock {
            *lock = staged;
        }
        self.calls.commits.fetch_add(1, Ordering::SeqCst);
        if strikes(&self.faults.commit_lands_then_fails) {
            return Err(unavailable("commit"));
        }
        Ok(())
    }

    async fn rollback_transaction(&self, _: Transaction) {
        self.calls.rollbacks.fetch_add(1, Ordering::SeqCst);
    }

    /// A `StoreError` in the chain decides; anything else is transient.
    fn classify_error(&self, error: &(dyn std::error::Error + 'static)) -> FailureKind {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(store_error) = error.downcast_ref::<StoreError>() {
                return store_error.kind();
            }
            current = error.source();
        }
        FailureKind::Transient
    }
}

#[async_trait]
impl EventStore for TestStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        self.log.append(stream_id, expected, events, metadata).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read_stream(stream_id, from_version).await
    }
    async fn load_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        visit: &mut StreamVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.log.load_stream(stream_id, from_version, visit).await
    }
    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.calls.reads.fetch_add(1, Ordering::SeqCst);
        self.log.read_all(from_position, max).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.log.head_position().await
    }
    fn subscribe(&self) -> PositionWatch {
        self.log.subscribe()
    }
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.log.load_snapshot(stream_id).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.log.save_snapshot(snapshot).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.committed.lock().await.checkpoints.get(name).copied())
    }
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.committed
            .lock()
            .await
            .checkpoints
            .insert(name.to_owned(), position);
        Ok(())
    }
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read_events_by_id(ids).await
    }
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        self.log.record_refusal(refusal).await
    }
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        self.log.load_refusal(command_id).await
    }
}

/// How [`Ledger`] fails.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// With `StoreError::Unavailable` as its source, classified by the store: transient.
    StoreTransient,
    /// With `StoreError::InvalidInput` as its source, classified by the store: permanent.
    StorePermanent,
    /// Store-transient, but the projection's own `failure_kind` says permanent.
    OwnPermanent,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger refused position {position}")]
    Refused {
        position: u64,
        fault: Fault,
        #[source]
        source: StoreError,
    },
    #[error("ledger reset failed")]
    Reset,
}

/// Records each applied position in the model; fails at `fail_at` (after writing, so a
/// rollback must undo it) while `failures` lasts; `attempts` counts tries at `fail_at`.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub fail_at: Option<(u64, Fault)>,
    pub failures: Arc<AtomicU32>,
    pub attempts: Arc<AtomicU32>,
    /// `reset` clears the model, then fails.
    pub reset_fails: bool,
    /// Positions seen by `apply` in this process, rolled back or not.
    pub seen: Arc<Mutex<Vec<u64>>>,
}

impl Ledger {
    pub fn failing(position: u64, fault: Fault, times: u32) -> Self {
        Self {
            fail_at: Some((position, fault)),
            failures: Arc::new(AtomicU32::new(times)),
            ..Self::default()
        }
    }
}

#[async_trait]
impl TransactionalProjection<Model> for Ledger {
    type Error = LedgerError;

    fn name(&self) -> &str {
        "ledger"
    }

    async fn apply(&mut self, event: &RecordedEvent, model: &mut Model) -> Result<(), LedgerError> {
        model.applied.push(event.position);
        self.seen.lock().unwrap().push(event.position);
        let Some((position, fault)) = self.fail_at.filter(|(p, _)| *p == event.position) else {
            return Ok(());
        };
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if !strikes(&self.failures) {
            return Ok(());
        }
        let source = match fault {
            Fault::StoreTransient | Fault::OwnPermanent => unavailable("apply"),
            Fault::StorePermanent => StoreError::InvalidInput {
                stream: event.stream_id.to_string(),
                reason: "refused by the read model".into(),
            },
        };
        Err(LedgerError::Refused {
            position,
            fault,
            source,
        })
    }

    async fn reset(&mut self, model: &mut Model) -> Result<(), LedgerError> {
        model.applied.clear();
        if self.reset_fails {
            return Err(LedgerError::Reset);
        }
        Ok(())
    }

    fn failure_kind(&self, error: &LedgerError) -> Option<FailureKind> {
        match error {
            LedgerError::Refused {
                fault: Fault::OwnPermanent,
                ..
            } => Some(FailureKind::Permanent),
            _ => None,
        }
    }
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
