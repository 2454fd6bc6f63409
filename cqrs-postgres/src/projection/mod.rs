//! Transactional projections: read models written in the transaction that advances their
//! checkpoint, for an exactly-once effect.
//!
//! The core [`ProjectionRunner`](cqrs_core::ProjectionRunner) delivers at least once: a
//! crash between applying an event and storing the checkpoint replays it. A
//! [`TransactionalProjection`] instead receives the transaction's connection and writes its
//! rows through it; the [`TransactionalRunner`] applies a batch and advances the checkpoint
//! in that same transaction. Either both commit or neither does, so after any failure the
//! batch is applied again from a read model that never saw it.

mod runner;

use async_trait::async_trait;
use cqrs_core::{FailureKind, RecordedEvent};
use sqlx::PgConnection;

pub use runner::{RunningTransactionalProjection, TransactionalRunner};

/// A read model stored in PostgreSQL, updated in the transaction that advances its
/// checkpoint.
///
/// `apply` must write only through `connection` (never through another pool connection),
/// and must not commit or roll back. Returning an error rolls back the whole batch,
/// checkpoint included; what the runner does next depends on
/// [`failure_kind`](Self::failure_kind): a transient failure is retried, a permanent one
/// stops the runner at that event (see [`TransactionalRunner`]).
///
/// ```
/// use async_trait::async_trait;
/// use cqrs_core::RecordedEvent;
/// use cqrs_postgres::TransactionalProjection;
/// use sqlx::PgConnection;
///
/// struct EventsPerStream;
///
/// #[async_trait]
/// impl TransactionalProjection for EventsPerStream {
///     type Error = sqlx::Error;
///     fn name(&self) -> &str { "events-per-stream" }
///     async fn apply(&mut self, event: &RecordedEvent, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
///         sqlx::query(
///             "INSERT INTO events_per_stream (stream_id, events) VALUES ($1, 1)
///              ON CONFLICT (stream_id) DO UPDATE SET events = events_per_stream.events + 1",
///         )
///         .bind(&*event.stream_id)
///         .execute(connection)
///         .await?;
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait TransactionalProjection: Send + 'static {
    /// The projection's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stable name, the checkpoint key.
    fn name(&self) -> &str;

    /// Applies one event through the batch's transaction. Called in position order, and
    /// exactly once per event as far as committed effects go.
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), Self::Error>;

    /// Whether a failure of [`apply`](Self::apply) can succeed when the batch is retried.
    /// The default, [`classify_error`](crate::classify_error), finds the `sqlx::Error` or
    /// [`StoreError`](cqrs_core::StoreError) in the error's source chain and classifies it
    /// by SQLSTATE (a NUL in text, 22021, or an index row too large, 54000, are
    /// permanent; a serialization failure or a timeout transient); anything else is
    /// transient. Override it to classify your own domain errors.
    fn failure_kind(&self, error: &Self::Error) -> FailureKind {
        crate::classify_error(error)
    }
}
