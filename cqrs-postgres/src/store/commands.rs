//! What the store keeps about commands (see `cqrs_core::store::commands`): the events a
//! command appended, found by their ids, and the `command_refusals` table.
//!
//! - `read_events_by_id` runs the append path's id lookup (`append/find_by_ids.sql`);
//! - `record_refusal` inserts if absent and returns the recorded refusal in one statement
//!   (`record_refusal.sql`), running it again when a concurrent recorder's commit was not
//!   yet in the statement's snapshot;
//! - `load_refusal` reads it back (`load_refusal.sql`).

use cqrs_core::{RecordedEvent, RecordedRefusal, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres};
use uuid::Uuid;

use super::rows::{get, to_i64, to_u64, EventDecoder};
use crate::error::map_sqlx;

/// How often `record_refusal.sql` runs before the store gives up: the second run always
/// finds a row (the conflicting refusal was committed, or its transaction rolled back and
/// ours is inserted), so a third is a safety margin, not a retry loop.
const RECORD_ATTEMPTS: usize = 3;

/// `find_by_ids.sql`: the stored events carrying any of `ids`, in no particular order.
pub(crate) async fn read_events_by_id<'c, E>(
    executor: E,
    sql: &str,
    ids: &[Uuid],
) -> Result<Vec<RecordedEvent>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(sql)
        .bind(ids)
        .fetch_all(executor)
        .await
        .map_err(|e| map_sqlx("read_events_by_id", e))?;
    let mut decoder = EventDecoder::default();
    rows.iter().map(|row| decoder.decode_full(row)).collect()
}

/// `record_refusal.sql`: records `refusal` unless a refusal of its command id is recorded,
/// and returns the recorded one.
pub(crate) async fn record_refusal<'c, E>(
    executor: E,
    sql: &str,
    refusal: &RecordedRefusal,
) -> Result<RecordedRefusal, StoreError>
where
    E: Executor<'c, Database = Postgres> + Copy,
{
    for _ in 0..RECORD_ATTEMPTS {
        let row = sqlx::query(sql)
            .bind(refusal.command_id)
            .bind(&refusal.stream_id)
            .bind(to_i64(refusal.stream_version))
            .bind(&refusal.code)
            .bind(&refusal.message)
            .bind(refusal.recorded_at)
            .fetch_optional(executor)
            .await
            .map_err(|e| map_sqlx("record_refusal", e))?;
        if let Some(row) = row {
            return decode_refusal(&row);
        }
    }
    Err(StoreError::Backend {
        operation: "record_refusal",
        source: format!(
            "the refusal of command {} was neither recorded nor found in {RECORD_ATTEMPTS} attempts",
            refusal.command_id
        )
        .into(),
    })
}

/// `load_refusal.sql`: the refusal recorded for `command_id`, if any.
pub(crate) async fn load_refusal<'c, E>(
    executor: E,
    sql: &str,
    command_id: Uuid,
) -> Result<Option<RecordedRefusal>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let row = sqlx::query(sql)
        .bind(command_id)
        .fetch_optional(executor)
        .await
        .map_err(|e| map_sqlx("load_refusal", e))?;
    row.as_ref().map(decode_refusal).transpose()
}

/// A row of `record_refusal.sql` / `load_refusal.sql`: command_id, stream_id,
/// stream_version, code, message, recorded_at.
fn decode_refusal(row: &PgRow) -> Result<RecordedRefusal, StoreError> {
    let stream_id: String = get(row, 1)?;
    let stream_version = to_u64(get::<i64>(row, 2)?, "refusal stream_version", &stream_id)?;
    Ok(RecordedRefusal {
        command_id: get(row, 0)?,
        stream_id,
        stream_version,
        code: get(row, 3)?,
        message: get(row, 4)?,
        recorded_at: get(row, 5)?,
    })
}
