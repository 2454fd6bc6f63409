//! One transaction of a [`TransactionalRunner`](super::TransactionalRunner): a batch, or a
//! reset for a rebuild. Each either commits as a whole or is rolled back as a whole.

use tracing::Instrument;

use super::{TransactionalProjection, TransactionalStore};
use crate::error::StoreError;
use crate::failure::FailureKind;
use crate::lease::Lease;
use crate::projection::event_span::event_span;
use crate::projection::RunnerError;

/// What a committed (or empty) batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Applied {
    /// The checkpoint after the batch.
    pub checkpoint: u64,
    /// Events applied; 0 when there was nothing after the checkpoint.
    pub events: usize,
}

/// How a batch's transaction ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Committed (or rolled back with nothing to apply).
    Applied(Applied),
    /// The lease was lost: the batch was rolled back, nothing committed.
    Deposed,
}

/// Why a transaction failed (it was rolled back), and whether retrying it can help.
#[derive(Debug)]
pub(super) struct BatchFailure {
    pub error: RunnerError,
    pub kind: FailureKind,
    /// The event the projection failed on, if it did.
    pub poison: Option<u64>,
}

impl BatchFailure {
    fn store(projection: &str, source: StoreError) -> Self {
        Self {
            kind: source.kind(),
            poison: None,
            error: RunnerError::Store {
                projection: projection.to_owned(),
                source,
            },
        }
    }
}

/// What one batch covers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope<'a> {
    pub batch_size: usize,
    /// Only the events below this position.
    pub before: Option<u64>,
    /// The how-manieth try of this batch (for the error).
    pub attempt: u32,
    /// Commit only while this lease is current ([`TransactionalStore::fence_in`]).
    pub fence: Option<&'a Lease>,
}

/// Applies the events after the checkpoint (with `scope.before`, only those below it) in
/// one transaction, fenced by `scope.fence`.
pub(super) async fn apply_next<S, P>(
    store: &S,
    projection: &mut P,
    scope: Scope<'_>,
) -> Result<Outcome, BatchFailure>
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    let name = projection.name().to_owned();
    let mut tx = store
        .begin_transaction()
        .await
        .map_err(|e| BatchFailure::store(&name, e))?;
    let outcome = apply_in(store, &mut tx, projection, &name, scope).await;
    match outcome {
        Ok(Outcome::Applied(applied)) if applied.events > 0 => {
            store
                .commit_transaction(tx)
                .await
                .map_err(|e| BatchFailure::store(&name, e))?;
            tracing::debug!(projection = %name, checkpoint = applied.checkpoint, events = applied.events, "transactional batch committed");
            Ok(Outcome::Applied(applied))
        }
        // Nothing to apply (the lock is released without writing), deposed, or a failure.
        outcome => {
            store.rollback_transaction(tx).await;
            outcome
        }
    }
}

async fn apply_in<S, P>(
    store: &S,
    tx: &mut S::Transaction,
    projection: &mut P,
    name: &str,
    scope: Scope<'_>,
) -> Result<Outcome, BatchFailure>
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    let failed = |e| BatchFailure::store(name, e);
    let checkpoint = store.lock_checkpoint(tx, name).await.map_err(failed)?;
    let mut events = store
        .read_all_in(tx, checkpoint + 1, scope.batch_size.max(1))
        .await
        .map_err(failed)?;
    if let Some(before) = scope.before {
        events.retain(|event| event.position < before);
    }
    let Some(last) = events.last().map(|event| event.position) else {
        return Ok(Outcome::Applied(Applied {
            checkpoint,
            events: 0,
        }));
    };
    // A full batch is a catch-up: no spans for it (see event_span).
    let live = events.len() < scope.batch_size.max(1);
    for event in &events {
        let span = (live && projection.applies_to(event))
            .then(|| event_span(name, event))
            .flatten();
        let applying = projection.apply(event, S::connection(tx));
        let applied = match span {
            Some(span) => applying.instrument(span).await,
            None => applying.await,
        };
        if let Err(error) = applied {
            return Err(BatchFailure {
                kind: classify(store, projection, &error),
                poison: Some(event.position),
                error: RunnerError::Projection {
                    projection: name.to_owned(),
                    position: event.position,
                    stream: event.stream_id.to_string(),
                    event_type: event.event_type.to_string(),
                    attempts: scope.attempt,
                    source: Box::new(error),
                },
            });
        }
    }
    store
        .save_checkpoint_in(tx, name, last)
        .await
        .map_err(failed)?;
    // Last, so that a takeover waits (or conflicts) only for the commit.
    if let Some(lease) = scope.fence {
        if !store.fence_in(tx, lease).await.map_err(failed)? {
            tracing::warn!(projection = %name, token = lease.token, checkpoint = last, "another instance took the lease: rolling the batch back");
            return Ok(Outcome::Deposed);
        }
    }
    Ok(Outcome::Applied(Applied {
        checkpoint: last,
        events: events.len(),
    }))
}

/// Clears the read model and sets checkpoints `checkpoints` back to 0, in one transaction
/// taken under their locks (taken in the order given, the same in every caller).
/// `projection_name` names the projection in errors and logs.
pub(in crate::projection) async fn reset_checkpoints<S, P>(
    store: &S,
    projection: &mut P,
    projection_name: &str,
    checkpoints: &[String],
) -> Result<(), RunnerError>
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    let failed = |source| RunnerError::Store {
        projection: projection_name.to_owned(),
        source,
    };
    let mut tx = store.begin_transaction().await.map_err(failed)?;
    match reset_in(store, &mut tx, projection, projection_name, checkpoints).await {
        Ok(from) => {
            store.commit_transaction(tx).await.map_err(failed)?;
            tracing::info!(projection = %projection_name, ?from, "read model reset and checkpoints set back to 0 for a rebuild");
            Ok(())
        }
        Err(failure) => {
            store.rollback_transaction(tx).await;
            Err(failure)
        }
    }
}

/// Returns the checkpoints the rebuild started from.
async fn reset_in<S, P>(
    store: &S,
    tx: &mut S::Transaction,
    projection: &mut P,
    projection_name: &str,
    checkpoints: &[String],
) -> Result<Vec<u64>, RunnerError>
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    let failed = |source| RunnerError::Store {
        projection: projection_name.to_owned(),
        source,
    };
    let mut from = Vec::with_capacity(checkpoints.len());
    for name in checkpoints {
        from.push(store.lock_checkpoint(tx, name).await.map_err(failed)?);
    }
    projection
        .reset(S::connection(tx))
        .await
        .map_err(|error| RunnerError::Reset {
            projection: projection_name.to_owned(),
            source: Box::new(error),
        })?;
    for name in checkpoints {
        store
            .save_checkpoint_in(tx, name, 0)
            .await
            .map_err(failed)?;
    }
    Ok(from)
}

/// The projection's own verdict on `error`, else the store's.
fn classify<S, P>(store: &S, projection: &P, error: &P::Error) -> FailureKind
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    projection
        .failure_kind(error)
        .unwrap_or_else(|| store.classify_error(error))
}
