//! The checkpoints table: the last processed position per named consumer.

use cqrs_core::StoreError;
use sqlx::{Executor, Postgres};

use super::rows::{to_i64, to_u64};
use crate::error::map_sqlx;

/// `load_checkpoint.sql`.
pub(crate) async fn load<'c, E>(
    executor: E,
    sql: &str,
    name: &str,
) -> Result<Option<u64>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let position: Option<i64> = sqlx::query_scalar(sql)
        .bind(name)
        .fetch_optional(executor)
        .await
        .map_err(|e| map_sqlx("load_checkpoint", e))?;
    position.map(|p| to_u64(p, "checkpoint", name)).transpose()
}

/// `save_checkpoint.sql`: sets it, also backwards.
pub(crate) async fn save<'c, E>(
    executor: E,
    sql: &str,
    name: &str,
    position: u64,
) -> Result<(), StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    sqlx::query(sql)
        .bind(name)
        .bind(to_i64(position))
        .execute(executor)
        .await
        .map_err(|e| map_sqlx("save_checkpoint", e))?;
    Ok(())
}
