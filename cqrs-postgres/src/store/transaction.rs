//! Appending inside a transaction shared with your own writes.

use cqrs_core::store::validate_append;
use cqrs_core::{AppendResult, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StoreError};
use sqlx::{PgConnection, Postgres, Transaction};

use cqrs_core::FailureKind;

use crate::error::{
    map_sqlx, sqlstate_kind, unique_violation, EVENT_ID_CONSTRAINT, STREAM_VERSION_CONSTRAINT,
};
use crate::store::{
    check_version_only, find_previous_append, read, stream_version, EncodedBatch, Outcome,
    PgEventStore, MAX_EVENTS_PER_TRANSACTION,
};

/// A PostgreSQL transaction that can append events, from [`PgEventStore::begin`].
///
/// Everything done through it, appends and your own statements on
/// [`connection`](Self::connection), commits or rolls back together. Use it for inline
/// projections: the read model is updated in the transaction that records the events, so
/// it is never behind them and never ahead. Dropping it without commit rolls back.
///
/// Appends in a transaction have the same checks as [`PgEventStore`]'s, with one
/// difference: when a concurrent writer wins a race for the same stream version (or event
/// id), PostgreSQL aborts the whole transaction. The append then returns the typed
/// [`Conflict`](cqrs_core::Conflict) or [`StoreError::DuplicateEventId`], the transaction
/// is unusable, and [`commit`](Self::commit) refuses; start a new one. A version mismatch
/// seen before inserting (the usual conflict) leaves the transaction usable.
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
pub struct PgTransaction {
    store: PgEventStore,
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
    pub(crate) fn new(store: PgEventStore, tx: Transaction<'static, Postgres>) -> Self {
        Self {
            store,
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
            return Err(aborted.error("append"));
        }
        validate_append(stream_id, &events, metadata, &self.store.config().limits)?;
        if self.next_index + events.len() > MAX_EVENTS_PER_TRANSACTION {
            return Err(StoreError::InvalidInput {
                stream: stream_id.to_owned(),
                reason: format!(
                    "a transaction can append at most {MAX_EVENTS_PER_TRANSACTION} events"
                ),
            });
        }
        let sql = self.store.statements();
        if events.is_empty() {
            return check_version_only(&mut *self.tx, &sql.stream_version, stream_id, expected)
                .await;
        }
        let batch = EncodedBatch::new(stream_id, expected, &events, metadata)?;
        // Checked first here (one extra query) so a retried batch does not abort the
        // transaction with a unique violation.
        if let Some(previous) = find_previous_append(
            &mut *self.tx,
            &sql.find_by_ids,
            stream_id,
            &events,
            batch.ids(),
        )
        .await?
        {
            return previous;
        }
        match batch
            .run(&mut *self.tx, &sql.append, &events, self.next_index)
            .await
        {
            Ok(Outcome::Appended(result)) => {
                self.next_index += events.len();
                if let Some(last) = result.events.last() {
                    self.last_position = self.last_position.max(last.position);
                }
                Ok(result)
            }
            Ok(Outcome::Rejected { actual }) => Err(batch.conflict(actual)),
            Err(error) => {
                self.aborted = Some(Aborted {
                    reason: error.to_string(),
                    // A lost race (our own unique constraints) is not the input's fault.
                    code: crate::error::sqlstate(&error)
                        .filter(|code| sqlstate_kind(code) == FailureKind::Permanent)
                        .filter(|_| unique_violation(&error).is_none()),
                });
                let pool = self.store.pool();
                match unique_violation(&error) {
                    Some(STREAM_VERSION_CONSTRAINT) => {
                        let actual = stream_version(pool, &sql.stream_version, stream_id).await?;
                        Err(batch.conflict(actual))
                    }
                    Some(EVENT_ID_CONSTRAINT) => {
                        match find_previous_append(
                            pool,
                            &sql.find_by_ids,
                            stream_id,
                            &events,
                            batch.ids(),
                        )
                        .await?
                        {
                            Some(Err(duplicate)) => Err(duplicate),
                            // Stored concurrently as this very batch; this transaction is
                            // aborted all the same.
                            _ => Err(StoreError::DuplicateEventId {
                                stream: stream_id.to_owned(),
                                event_id: batch.ids()[0],
                                detail: "by a concurrent transaction".into(),
                            }),
                        }
                    }
                    _ => Err(map_sqlx("append", error)),
                }
            }
        }
    }

    /// Reads a stream as this transaction sees it (its own appends included).
    pub async fn read_stream(
        &mut self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = &self.store.statements().read_stream;
        read::read_stream(&mut *self.tx, sql, stream_id, from_version).await
    }

    /// Commits. Refuses (and rolls back) when an append of this transaction failed in a way
    /// that made PostgreSQL abort it.
    pub async fn commit(self) -> Result<(), StoreError> {
        if let Some(aborted) = self.aborted {
            let _ = self.tx.rollback().await;
            return Err(aborted.error("commit"));
        }
        self.tx.commit().await.map_err(|e| map_sqlx("commit", e))?;
        if self.last_position > 0 {
            self.store.announce(self.last_position);
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

/// Why PostgreSQL aborted the transaction: the failed append's error text, and its
/// SQLSTATE when that is permanent.
#[derive(Debug)]
struct Aborted {
    reason: String,
    code: Option<String>,
}

impl Aborted {
    /// The error every later call of the aborted transaction returns, classified like the
    /// failure that aborted it: when that was a permanent refusal (a NUL in text, a key
    /// over the index limit), running the same work in a new transaction fails again, so
    /// it is [`StoreError::Refused`] with the original code (dead-letter the input); any
    /// other cause (a lost race, a dropped connection) is transient: start a new
    /// transaction and retry.
    fn error(&self, operation: &'static str) -> StoreError {
        let source = format!(
            "the transaction was aborted by an earlier failed append ({}); roll back and start a new one",
            self.reason
        )
        .into();
        match &self.code {
            Some(code) => StoreError::Refused {
                operation,
                code: code.clone(),
                input_at_fault: crate::error::sqlstate_blames_input(code),
                source,
            },
            None => StoreError::Backend { operation, source },
        }
    }
}
