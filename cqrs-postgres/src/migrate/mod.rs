//! Versioned schema migrations, applied by [`PgEventStore::migrate`](crate::PgEventStore::migrate).
//!
//! Each schema has its own `cqrs_migrations` table, so stores in different schemas of one
//! database migrate independently. All pending migrations run in one transaction under an
//! advisory lock keyed by the schema: concurrent callers wait, then find nothing to do; a
//! failing migration leaves the schema as it was.

use sqlx::PgPool;

use crate::error::{map_sqlx, SetupError};
use crate::schema::SchemaName;

/// One versioned migration: SQL with `{schema}` placeholders.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// Every migration shipped with this crate, in order. Never edit one that was released;
/// add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "events",
        sql: include_str!("0001_events.sql"),
    },
    Migration {
        version: 2,
        description: "snapshots",
        sql: include_str!("0002_snapshots.sql"),
    },
    Migration {
        version: 3,
        description: "checkpoints",
        sql: include_str!("0003_checkpoints.sql"),
    },
];

/// Applies the pending migrations to `schema`; returns the versions applied now.
pub(crate) async fn run(pool: &PgPool, schema: &SchemaName) -> Result<Vec<i32>, SetupError> {
    let setup = |e| SetupError::Store(map_sqlx("migrate", e));
    let mut tx = pool.begin().await.map_err(setup)?;
    sqlx::query(include_str!("lock.sql"))
        .bind(schema.as_str())
        .execute(&mut *tx)
        .await
        .map_err(setup)?;
    sqlx::raw_sql(&schema.render(include_str!("bootstrap.sql")))
        .execute(&mut *tx)
        .await
        .map_err(setup)?;
    let applied: Vec<i32> = sqlx::query_scalar(&schema.render(include_str!("applied.sql")))
        .fetch_all(&mut *tx)
        .await
        .map_err(setup)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(&found) = applied.iter().max().filter(|&&v| v > known) {
        return Err(SetupError::SchemaTooNew {
            schema: schema.to_string(),
            found,
            known,
        });
    }
    let mut applied_now = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let failed = |e| SetupError::Migration {
            schema: schema.to_string(),
            version: migration.version,
            description: migration.description,
            source: map_sqlx("migrate", e),
        };
        sqlx::raw_sql(&schema.render(migration.sql))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(&schema.render(include_str!("record.sql")))
            .bind(migration.version)
            .bind(migration.description)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tracing::info!(schema = %schema, version = migration.version, migration = migration.description, "migration applied");
        applied_now.push(migration.version);
    }
    tx.commit().await.map_err(setup)?;
    Ok(applied_now)
}
