//! Appending inside a transaction shared with your own writes.

use std::sync::Arc;

use cqrs_core::{AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StoreError};
use sqlx::{PgConnection, Postgres, Transaction};

use super::append::{append_in_transaction, Aborted, Batch};
use super::context::StoreContext;
use super::read;
use crate::error::{map_sqlx, sqlstate_blames_input};

/// A PostgreSQL transaction that can append events, from
/// [`PgEventStore::begin`](crate::PgEventStore::begin).
///
/// Everything done through it, appends and your own statements on
/// [`connection`](Self::connection), commits or rolls back together. Use it for inline
/// projections: the read model is updated in the transaction that records the events, so
/// it is never behind them and never ahead. Dropping it without commit rolls back.
///
/// Appends in a transaction follow the same [append path](crate::PgEventStore) as the
/// store's, with one difference: when a concurrent writer wins a race for the same stream
/// version (or event id), PostgreSQL aborts the whole transaction. The append then returns
/// the typed [`Conflict`](cqrs_core::Conflict) (or [`StoreError::DuplicateEventId`] when an
/// id is reused), the transaction is unusable, and [`commit`](Self::commit) refuses; start
/// a new one and retry (a batch the winner stored as this very batch then comes back
/// `deduplicated`). A version mismatch seen before inserting (the usual conflict) and a
/// retried batch leave the transaction usable.
///
/// While the transaction is open, gap-safe readers stop below its first event, so keep it
/// short.
///
/// ```no_run
/// # async fn doc(store: cqrs_postgres::PgEventStore) -> Result<(), Box<dyn std::error::Error>> {
/// use cqrs_core::{ExpectedVersion, JsonPayload, Metadata, NewEvent};
///
/// let mut tx = store.begin().await?;
/// let event = NewEvent::raw("Opened", 1, JsonPayload::parse(r#"{"owner":"ada"}"#)?);
/// let appended = tx.append("Account-1", ExpectedVersion::NoStream, vec![event], &Metadata::default()).await?;
/// sqlx::query("INSERT INTO account_list (stream_id, version) VALUES ($1, $2)")
///     .bind("Account-1")
///     .bind(appended.current_version as i64)
///     .execute(tx.connection())
///     .await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
///
/// [`PgEventStore`]: crate::PgEventStore
pub struct PgTransaction {
    context: Arc<StoreContext>,
    tx: Transaction<'static, Postgres>,
    /// Index of the next event within this transaction (low bits of its position).
    next_index: usize,
    /// Set when a statement of ours failed and PostgreSQL aborted the transaction.
    aborted: Option<Aborted>,
    /// Highest position appended, announced to listeners after commit.
    last_position: u64,
}

impl std::fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction")
            .field("events_appended", &self.next_index)
            .field("aborted", &self.aborted)
            .finish_non_exhaustive()
    }
}

impl PgTransaction {
    pub(crate) fn new(context: Arc<StoreContext>, tx: Transaction<'static, Postgres>) -> Self {
        Self {
            context,
            tx,
            next_index: 0,
            aborted: None,
            last_position: 0,
        }
    }

    /// The transaction's connection, for your own statements.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Appends `events` to `stream_id` if it is at `expected`, inside this transaction.
    pub async fn append(
        &mut self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        if let Some(aborted) = &self.aborted {
            return Err(aborted_error(aborted, "append"));
        }
        let limits = &self.context.config.limits;
        let batch = Batch::prepare(stream_id, expected, events, metadata, limits)?;
        match append_in_transaction(&mut self.tx, &self.context, &batch, self.next_index).await {
            Ok(result) => {
                if let Some(last) = result.events.last().filter(|_| !result.deduplicated) {
                    self.next_index += result.events.len();
                    self.last_position = self.last_position.max(last.position);
                }
                Ok(result)
            }
            Err(failed) => {
                if failed.aborted.is_some() {
                    self.aborted = failed.aborted;
                }
                Err(failed.error)
            }
        }
    }

    /// Reads a stream as this transaction sees it (its own appends included).
    pub async fn read_stream(
        &mut self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = &self.context.sql.read_stream;
        read::read_stream(&mut *self.tx, sql, stream_id, from_version).await
    }

    /// Commits. Refuses (and rolls back) when an append of this transaction failed in a way
    /// that made PostgreSQL abort it.
    pub async fn commit(self) -> Result<(), StoreError> {
        if let Some(aborted) = self.aborted {
            let _ = self.tx.rollback().await;
            return Err(aborted_error(&aborted, "commit"));
        }
        self.tx.commit().await.map_err(|e| map_sqlx("commit", e))?;
        if self.last_position > 0 {
            self.context.announce(self.last_position);
        }
        Ok(())
    }

    /// Rolls back everything done in this transaction.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx
            .rollback()
            .await
            .map_err(|e| map_sqlx("rollback", e))
    }
}

/// The error every later call of a transaction `aborted` this way returns, classified like
/// the failure that aborted it: when that was a permanent refusal (a NUL in text, a key
/// over the index limit), running the same work in a new transaction fails again, so it is
/// [`StoreError::Refused`] with the original code (dead-letter the input); any other cause
/// (a lost race, a dropped connection) is transient: start a new transaction and retry.
fn aborted_error(aborted: &Aborted, operation: &'static str) -> StoreError {
    let source = format!(
        "the transaction was aborted by an earlier failed append ({}); roll back and start a new one",
        aborted.reason
    )
    .into();
    match &aborted.permanent_code {
        Some(code) => StoreError::Refused {
            operation,
            code: code.clone(),
            input_at_fault: sqlstate_blames_input(code),
            source,
        },
        None => StoreError::Backend { operation, source },
    }
}
