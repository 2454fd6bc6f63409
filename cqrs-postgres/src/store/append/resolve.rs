//! Steps 5 and 6 of the append path: what a batch the statement did not insert means.
//!
//! Both look the batch's ids up (`find_by_ids.sql`) and let cqrs-core's idempotency rule
//! ([`resolve_stored_ids`]) decide when some are stored; this file adds only what
//! PostgreSQL tells: the actual version of a rejected batch, and which unique constraint a
//! lost race hit.

use cqrs_core::store::resolve_stored_ids;
use cqrs_core::{AppendResult, ExpectedVersion, StoreError};
use sqlx::{Executor, Postgres};

use super::batch::Batch;
use crate::error::{map_sqlx, unique_violation, EVENT_ID_CONSTRAINT, STREAM_VERSION_CONSTRAINT};
use crate::store::rows::{to_u64, EventDecoder};
use crate::store::statements::Statements;

/// Step 5: a batch the statement rejected because the stream was at `actual`: the
/// original result when it is a retry of a stored batch, `DuplicateEventId` when it
/// reuses a stored id, else the [`Conflict`](cqrs_core::Conflict).
pub(crate) async fn resolve_rejected<'c, E>(
    executor: E,
    sql: &Statements,
    batch: &Batch,
    actual: u64,
) -> Result<AppendResult, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    match stored_ids(executor, sql, batch).await? {
        Some(resolved) => resolved,
        None => Err(batch.conflict(actual)),
    }
}

/// The unique constraint an append statement violated: a concurrent writer committed
/// first (the insert waited for its commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LostRace {
    /// It took one of the batch's stream versions.
    StreamVersion,
    /// It stored one of the batch's event ids.
    EventId,
}

impl LostRace {
    /// The lost race `error` reports, if it is a unique violation of the events table's
    /// own constraints (checked by SQLSTATE and constraint name, never by message text).
    pub(crate) fn of(error: &sqlx::Error) -> Option<Self> {
        match unique_violation(error)? {
            STREAM_VERSION_CONSTRAINT => Some(Self::StreamVersion),
            EVENT_ID_CONSTRAINT => Some(Self::EventId),
            _ => None,
        }
    }

    /// The constraint's name, for logs.
    pub(crate) fn constraint(self) -> &'static str {
        match self {
            Self::StreamVersion => STREAM_VERSION_CONSTRAINT,
            Self::EventId => EVENT_ID_CONSTRAINT,
        }
    }
}

/// What a lost race means for the batch (step 6).
#[derive(Debug)]
pub(crate) enum AfterRace {
    /// Some of its ids are stored now: the original result (the batch raced its own
    /// retry) or `DuplicateEventId`.
    Resolved(Result<AppendResult, StoreError>),
    /// None of its ids is stored, and trying again can succeed: the append asked for no
    /// version check (`Any`), or the writer that held its id rolled back.
    Retry,
    /// The stream moved past the expected version: a `Conflict`, with the version read
    /// again.
    Conflict,
}

/// Step 6, the race policy of every append path: after `race`, looks the batch's ids up
/// on `executor` (which must see the winner's commit: not the aborted transaction).
pub(crate) async fn after_lost_race<'c, E>(
    executor: E,
    sql: &Statements,
    batch: &Batch,
    race: LostRace,
) -> Result<AfterRace, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    Ok(match stored_ids(executor, sql, batch).await? {
        Some(resolved) => AfterRace::Resolved(resolved),
        None if batch.expected() == ExpectedVersion::Any || race == LostRace::EventId => {
            AfterRace::Retry
        }
        None => AfterRace::Conflict,
    })
}

/// The stored events among the batch's ids, resolved by cqrs-core's idempotency rule;
/// `None` when none of its ids is stored.
pub(crate) async fn stored_ids<'c, E>(
    executor: E,
    sql: &Statements,
    batch: &Batch,
) -> Result<Option<Result<AppendResult, StoreError>>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let ids = batch.event_ids();
    let rows = sqlx::query(&sql.find_by_ids)
        .bind(ids)
        .fetch_all(executor)
        .await
        .map_err(|e| map_sqlx("append", e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut decoder = EventDecoder::default();
    let stored = rows
        .iter()
        .map(|row| decoder.decode_full(row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(resolve_stored_ids(batch.stream_id(), ids, stored)))
}

/// The current version of the batch's stream (0 when it does not exist).
pub(crate) async fn stream_version<'c, E>(
    executor: E,
    sql: &Statements,
    batch: &Batch,
) -> Result<u64, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let version: i64 = sqlx::query_scalar(&sql.stream_version)
        .bind(&**batch.stream_id())
        .fetch_one(executor)
        .await
        .map_err(|e| map_sqlx("append", e))?;
    to_u64(version, "stream_version", batch.stream_id())
}

/// Step 3 of an empty batch: checks the expected version against the stream's current
/// version and writes nothing.
pub(crate) async fn check_version_only<'c, E>(
    executor: E,
    sql: &Statements,
    batch: &Batch,
) -> Result<AppendResult, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let current = stream_version(executor, sql, batch).await?;
    if !batch.expected().accepts(current) {
        return Err(batch.conflict(current));
    }
    Ok(AppendResult {
        current_version: current,
        events: Vec::new(),
        deduplicated: false,
    })
}
