//! The snapshots table: the latest state per stream, never replaced by an older one.

use cqrs_core::{JsonPayload, Snapshot, StoreError};
use sqlx::{PgPool, Row};

use super::rows::{to_i64, to_u64};
use crate::error::map_sqlx;

/// `load_snapshot.sql`.
pub(crate) async fn load(
    pool: &PgPool,
    sql: &str,
    stream_id: &str,
) -> Result<Option<Snapshot>, StoreError> {
    let Some(row) = sqlx::query(sql)
        .bind(stream_id)
        .fetch_optional(pool)
        .await
        .map_err(|e| map_sqlx("load_snapshot", e))?
    else {
        return Ok(None);
    };
    let decode = |e| map_sqlx("load_snapshot", e);
    let version: i64 = row.try_get(0).map_err(decode)?;
    let schema_version: i32 = row.try_get(1).map_err(decode)?;
    let state: &str = row.try_get(2).map_err(decode)?;
    let taken_at = row.try_get(3).map_err(decode)?;
    Ok(Some(Snapshot {
        stream_id: stream_id.to_owned(),
        version: to_u64(version, "snapshot version", stream_id)?,
        schema_version: u32::try_from(schema_version).map_err(|_| {
            StoreError::Corrupt(format!(
                "negative snapshot schema version in stream `{stream_id}`"
            ))
        })?,
        state: JsonPayload::from_trusted_json(state),
        taken_at,
    }))
}

/// `save_snapshot.sql`: keeps the higher version.
pub(crate) async fn save(pool: &PgPool, sql: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
    let schema_version =
        i32::try_from(snapshot.schema_version).map_err(|_| StoreError::InvalidInput {
            stream: snapshot.stream_id.clone(),
            reason: format!(
                "snapshot schema version {} is above {}",
                snapshot.schema_version,
                i32::MAX
            ),
        })?;
    sqlx::query(sql)
        .bind(&snapshot.stream_id)
        .bind(to_i64(snapshot.version))
        .bind(schema_version)
        .bind(snapshot.state.as_str())
        .bind(snapshot.taken_at)
        .execute(pool)
        .await
        .map_err(|e| map_sqlx("save_snapshot", e))?;
    Ok(())
}
