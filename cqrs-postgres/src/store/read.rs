//! Reads: one stream by version, the global log by position (gap-safe), the head.

use cqrs_core::{RecordedEvent, StoreError, StreamVisitor};
use futures::TryStreamExt;
use sqlx::{Executor, Postgres};

use super::rows::{to_i64, to_u64, EventDecoder, LeanRowReader};
use crate::error::map_sqlx;

/// `read_stream.sql`: the events of `stream_id` from `from_version` on.
pub(crate) async fn read_stream<'c, E>(
    executor: E,
    sql: &str,
    stream_id: &str,
    from_version: u64,
) -> Result<Vec<RecordedEvent>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let rows = sqlx::query(sql)
        .bind(stream_id)
        .bind(to_i64(from_version))
        .fetch_all(executor)
        .await
        .map_err(|e| map_sqlx("read_stream", e))?;
    let mut decoder = EventDecoder::for_stream(stream_id);
    rows.iter()
        .map(|row| decoder.decode_in_stream(row))
        .collect()
}

/// `load_stream.sql`: feeds the events of `stream_id` from `from_version` on to `visit`
/// as the rows arrive (the visitor's work overlaps the server's), and counts them in
/// `visited`, so a caller that retries after a failure resumes after the last one visited.
pub(crate) async fn load_stream<'c, E>(
    executor: E,
    sql: &str,
    stream_id: &str,
    from_version: u64,
    visit: &mut StreamVisitor<'_>,
    visited: &mut u64,
) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    // Versions start at 1; the rows carry none, they are counted from the first one read.
    let first = from_version.max(1);
    let mut rows = sqlx::query(sql)
        .bind(stream_id)
        .bind(to_i64(first))
        .fetch(executor);
    let mut reader = LeanRowReader::default();
    let mut version = first;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| map_sqlx("load_stream", e))?
    {
        let event = reader.read(&row, stream_id, version)?;
        version += 1;
        *visited += 1;
        if visit(event).is_break() {
            break;
        }
    }
    Ok(())
}

/// `read_all.sql`: up to `max` events from `from_position` on, below the gap-safe bound.
pub(crate) async fn read_all<'c, E>(
    executor: E,
    sql: &str,
    from_position: u64,
    max: usize,
) -> Result<Vec<RecordedEvent>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    if max == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(sql)
        .bind(to_i64(from_position))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(executor)
        .await
        .map_err(|e| map_sqlx("read_all", e))?;
    let mut decoder = EventDecoder::default();
    rows.iter().map(|row| decoder.decode_full(row)).collect()
}

/// `head_position.sql`: the highest gap-safe position (0 for none).
pub(crate) async fn head_position<'c, E>(executor: E, sql: &str) -> Result<u64, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let head: i64 = sqlx::query_scalar(sql)
        .fetch_one(executor)
        .await
        .map_err(|e| map_sqlx("head_position", e))?;
    to_u64(head, "position", "(global log)")
}
