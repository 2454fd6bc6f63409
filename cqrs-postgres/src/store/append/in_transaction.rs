//! The path inside a caller's transaction ([`PgTransaction`](crate::PgTransaction)): the
//! same steps, without retries, and with the ids looked up before the statement, because
//! a failed statement aborts the whole transaction.

use cqrs_core::{AppendResult, FailureKind, StoreError};
use sqlx::PgConnection;

use super::batch::{Batch, Outcome};
use super::resolve::{
    after_lost_race, check_version_only, stored_ids, stream_version, AfterRace, LostRace,
};
use crate::error::{map_sqlx, sqlstate, sqlstate_kind};
use crate::position::MAX_EVENTS_PER_TRANSACTION;
use crate::store::context::StoreContext;

/// A failed append inside a transaction.
#[derive(Debug)]
pub(crate) struct TransactionAppendError {
    /// What the caller gets.
    pub(crate) error: StoreError,
    /// Set when the statement failed, which made PostgreSQL abort the transaction.
    pub(crate) aborted: Option<Aborted>,
}

impl From<StoreError> for TransactionAppendError {
    fn from(error: StoreError) -> Self {
        Self {
            error,
            aborted: None,
        }
    }
}

/// Why PostgreSQL aborted a transaction: the failed append statement's error.
#[derive(Debug, Clone)]
pub(crate) struct Aborted {
    /// The database's error text.
    pub(crate) reason: String,
    /// Its SQLSTATE, when that refuses the data for good (a NUL in text, a key over the
    /// index limit): the same work fails again in a new transaction. `None` for a lost
    /// race or a transient failure.
    pub(crate) permanent_code: Option<String>,
}

/// Appends `batch` through `connection`, the caller's open transaction, whose events so
/// far took indexes below `first_index` (steps 3 to 6 of the [append path](super)).
///
/// Before the statement, the batch's ids are looked up, so a retried batch returns the
/// original without a unique violation. A lost race (step 6) cannot be retried, the
/// transaction being aborted: a reused id stays `DuplicateEventId`, everything else (the
/// stream moved on, the ids were stored meanwhile, even as this very batch) is a
/// [`Conflict`](cqrs_core::Conflict) with the actual version: transient, and retried in a
/// new transaction it comes back `deduplicated` when the batch was stored.
pub(crate) async fn append_in_transaction(
    connection: &mut PgConnection,
    context: &StoreContext,
    batch: &Batch,
    first_index: usize,
) -> Result<AppendResult, TransactionAppendError> {
    let sql = &context.sql;
    if first_index + batch.events().len() > MAX_EVENTS_PER_TRANSACTION {
        return Err(StoreError::InvalidInput {
            stream: batch.stream_id().to_string(),
            reason: format!("a transaction can append at most {MAX_EVENTS_PER_TRANSACTION} events"),
        }
        .into());
    }
    if batch.events().is_empty() {
        return Ok(check_version_only(&mut *connection, sql, batch).await?);
    }
    // One extra query, so that a retried batch leaves the transaction usable.
    if let Some(resolved) = stored_ids(&mut *connection, sql, batch).await? {
        return Ok(resolved?);
    }
    let error = match batch.run(&mut *connection, &sql.append, first_index).await {
        Ok(row) => {
            return match batch.decode(&row)? {
                Outcome::Appended(result) => Ok(result),
                // Its ids were not stored a moment ago: a plain conflict.
                Outcome::Rejected { actual } => Err(batch.conflict(actual).into()),
            };
        }
        Err(error) => error,
    };
    let race = LostRace::of(&error);
    let aborted = Aborted {
        reason: error.to_string(),
        // A lost race is not the input's fault.
        permanent_code: sqlstate(&error)
            .filter(|code| race.is_none() && sqlstate_kind(code) == FailureKind::Permanent),
    };
    let error = match race {
        // The transaction is aborted: what the race means is read on the pool.
        Some(race) => match after_lost_race(&context.pool, sql, batch, race).await {
            Ok(AfterRace::Resolved(Err(reused))) => reused,
            Ok(AfterRace::Resolved(Ok(_)) | AfterRace::Retry | AfterRace::Conflict) => {
                match stream_version(&context.pool, sql, batch).await {
                    Ok(actual) => batch.conflict(actual),
                    Err(error) => error,
                }
            }
            Err(error) => error,
        },
        None => map_sqlx("append", error),
    };
    Err(TransactionAppendError {
        error,
        aborted: Some(aborted),
    })
}
