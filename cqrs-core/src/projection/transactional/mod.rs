//! Transactional projections: read models stored beside the log and written in the
//! transaction that advances their checkpoint, for an exactly-once effect.
//!
//! The [`ProjectionRunner`](crate::ProjectionRunner) delivers at least once: a crash between
//! applying an event and storing the checkpoint replays it. A [`TransactionalProjection`]
//! instead writes its read model through the transaction a [`TransactionalRunner`] opens
//! for each batch, and the same transaction advances the checkpoint: both commit or
//! neither does, so after any failure the batch is applied again to a read model that
//! never saw it.
//!
//! # One concept, three parts
//! - [`TransactionalProjection<C>`]: the read model. `C` is what it writes through, the
//!   one thing that differs between stores: `sqlx::PgConnection` for PostgreSQL,
//!   `cqrs_mongo::MongoTransaction` (the database and the transaction's session) for
//!   MongoDB.
//! - [`TransactionalStore`]: what a store adapter supplies, and only that: its
//!   transaction (begin, lock the checkpoint, read the log, save the checkpoint, commit,
//!   roll back) and the classification of its errors.
//! - [`TransactionalRunner`]: the batch loop, written once here for every store, with the
//!   [`Worker`](crate::worker::Worker) handle every runner of this workspace returns.
//!
//! # A batch, step by step
//! 1. Begin a transaction ([`TransactionalStore::begin_transaction`]).
//! 2. Read the projection's checkpoint under the transaction's lock, 0 when missing
//!    ([`TransactionalStore::lock_checkpoint`]): a second runner of the same projection
//!    (a rolling deploy, a rebuild) waits for this transaction or conflicts with it, so
//!    two runners take turns and never apply an event twice.
//! 3. Read up to `batch_size` events after the checkpoint, inside the transaction.
//! 4. Apply each one through the transaction's connection.
//! 5. Save the new checkpoint, then commit.
//!
//! Nothing to read: the transaction is rolled back (nothing was written). Any failure:
//! rolled back, read model and checkpoint alike.
//!
//! # Failures
//! Each failure is classified: the projection's own [`failure_kind`] first, else the store
//! ([`TransactionalStore::classify_error`]: PostgreSQL by SQLSTATE, MongoDB by server code
//! and error label); a store call's failure by [`StoreError::kind`](crate::StoreError::kind).
//! A spawned runner retries a **transient** failure (a lost connection, a timeout, a write
//! conflict, a commit whose result is unknown) with backoff for as long as it lasts; the
//! checkpoint read by the next attempt says whether an earlier commit landed, so the effect
//! stays exactly once. A **permanent** failure (the read model refuses the event for good)
//! is not retried: the runner commits the events before it and stops, naming its position,
//! stream and type. Driven by hand ([`run_batch`](TransactionalRunner::run_batch),
//! [`catch_up`](TransactionalRunner::catch_up), [`rebuild`](TransactionalRunner::rebuild)),
//! the runner returns the first failure instead of retrying.
//!
//! # Rebuild
//! [`TransactionalRunner::rebuild`] clears the read model
//! ([`TransactionalProjection::reset`]) and sets the checkpoint back to 0 in one
//! transaction, under the checkpoint's lock; the next run replays the whole log. A failed
//! reset leaves both as they were.
//!
//! [`failure_kind`]: TransactionalProjection::failure_kind

mod batch;
mod runner;
mod store;

use async_trait::async_trait;

pub(in crate::projection) use batch::reset_checkpoints;
pub use runner::TransactionalRunner;
pub use store::TransactionalStore;

use crate::envelope::RecordedEvent;
use crate::failure::FailureKind;

/// A read model written in the transaction that advances its checkpoint; `C` is what it
/// writes through (the store's connection or session, see [`TransactionalStore`]).
///
/// `apply` must write only through `connection`, and must neither commit nor roll back:
/// the [`TransactionalRunner`] does. Keep the model's state in the database, not in
/// `self`: a failed batch is rolled back and applied again, and `self` is not rolled back.
///
/// ```
/// use std::collections::BTreeMap;
/// use async_trait::async_trait;
/// use cqrs_core::{RecordedEvent, TransactionalProjection};
///
/// /// Stands for a store's connection: rows written in the batch's transaction.
/// #[derive(Default)]
/// struct Rows(BTreeMap<String, u64>);
///
/// /// Counts the events of each stream.
/// struct EventsPerStream;
///
/// #[async_trait]
/// impl TransactionalProjection<Rows> for EventsPerStream {
///     type Error = std::convert::Infallible;
///     fn name(&self) -> &str { "events-per-stream" }
///     async fn apply(&mut self, event: &RecordedEvent, rows: &mut Rows) -> Result<(), Self::Error> {
///         *rows.0.entry(event.stream_id.to_string()).or_default() += 1;
///         Ok(())
///     }
///     async fn reset(&mut self, rows: &mut Rows) -> Result<(), Self::Error> {
///         rows.0.clear();
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait TransactionalProjection<C: ?Sized + Send>: Send + 'static {
    /// The projection's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stable name: the key of the checkpoint (shared with
    /// [`EventStore::load_checkpoint`](crate::EventStore::load_checkpoint)).
    fn name(&self) -> &str;

    /// Whether `event` is this projection's to apply (default: every event); see
    /// [`Projection::applies_to`](crate::Projection::applies_to).
    fn applies_to(&self, event: &RecordedEvent) -> bool {
        let _ = event;
        true
    }

    /// Applies one event through the batch's transaction. Called in position order; as far
    /// as committed effects go, exactly once per event.
    async fn apply(&mut self, event: &RecordedEvent, connection: &mut C)
        -> Result<(), Self::Error>;

    /// Clears the read model for a rebuild, through the transaction that also sets the
    /// checkpoint back to 0 ([`TransactionalRunner::rebuild`]). Required: a rebuild onto
    /// a model that kept its rows would apply every event twice.
    async fn reset(&mut self, connection: &mut C) -> Result<(), Self::Error>;

    /// Whether a failure of [`apply`](Self::apply) or [`reset`](Self::reset) can succeed
    /// when retried. `None`, the default, lets the store classify it
    /// ([`TransactionalStore::classify_error`]: PostgreSQL by the SQLSTATE of the
    /// `sqlx::Error` in the error's source chain, MongoDB by the driver error's code and
    /// labels; an error the store cannot place is transient). Return `Some` for your own
    /// errors, e.g. [`FailureKind::Permanent`] for an event the model refuses.
    fn failure_kind(&self, error: &Self::Error) -> Option<FailureKind> {
        let _ = error;
        None
    }
}
