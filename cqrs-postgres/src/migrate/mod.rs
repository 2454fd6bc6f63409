//! Versioned schema migrations, applied by [`PgEventStore::migrate`](crate::PgEventStore::migrate).
//!
//! Each schema has its own `cqrs_migrations` table, so stores in different schemas of one
//! database migrate independently. All pending migrations run in one transaction under an
//! advisory lock keyed by the schema: concurrent callers wait, then find nothing to do; a
//! failing migration leaves the schema as it was.
//!
//! Every run also checks, in that transaction, that the positions stored are below this
//! cluster's transaction ids (`positions.sql`): a logical dump restored into another
//! cluster would otherwise give new events positions below the stored ones.

use sqlx::PgPool;

use crate::error::{map_sqlx, SetupError};
use crate::position::INDEX_BITS;
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
    Migration {
        version: 4,
        description: "leases",
        sql: include_str!("0004_leases.sql"),
    },
    Migration {
        version: 5,
        description: "command refusals",
        sql: include_str!("0005_command_refusals.sql"),
    },
];

/// Takes, in the caller's transaction, the lock that serializes every migration of
/// `schema`: the event store's own ([`PgEventStore::migrate`](crate::PgEventStore::migrate))
/// and any other that creates objects in that schema (a read model's tables). Two
/// concurrent `CREATE SCHEMA IF NOT EXISTS` can otherwise fail with a unique violation
/// (replicas starting together). A transaction-scoped advisory lock keyed by the schema
/// name: released at commit or rollback.
///
/// ```no_run
/// # async fn run(pool: cqrs_postgres::sqlx::PgPool) -> Result<(), cqrs_postgres::sqlx::Error> {
/// use cqrs_postgres::{lock_schema_migrations, SchemaName};
///
/// let schema = SchemaName::new("order_views").unwrap();
/// let mut tx = pool.begin().await?;
/// lock_schema_migrations(&mut tx, &schema).await?;
/// let script = schema.render("CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE IF NOT EXISTS {schema}.totals (id text PRIMARY KEY)");
/// cqrs_postgres::sqlx::Executor::execute(&mut *tx, script.as_str()).await?;
/// tx.commit().await
/// # }
/// ```
pub async fn lock_schema_migrations(
    transaction: &mut sqlx::PgConnection,
    schema: &SchemaName,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("lock.sql"))
        .bind(schema.as_str())
        .execute(transaction)
        .await
        .map(|_| ())
}

/// Applies the pending migrations to `schema`; returns the versions applied now.
pub(crate) async fn run(pool: &PgPool, schema: &SchemaName) -> Result<Vec<i32>, SetupError> {
    let setup = |e| SetupError::Store(map_sqlx("migrate", e));
    let mut tx = pool.begin().await.map_err(setup)?;
    lock_schema_migrations(&mut tx, schema)
        .await
        .map_err(setup)?;
    run_script(&mut tx, &schema.render(include_str!("bootstrap.sql")))
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
        run_script(&mut tx, &schema.render(migration.sql))
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
    check_positions(&mut tx, schema).await?;
    tx.commit().await.map_err(setup)?;
    Ok(applied_now)
}

/// Runs a script of several statements (the simple query protocol: a query text without
/// arguments). Not `sqlx::raw_sql(..).execute(..)`: its future is not `Send` for every
/// lifetime, which made `migrate()` unusable in `tokio::spawn` and `#[async_trait]` methods
/// (`tests/send_futures.rs`).
async fn run_script(connection: &mut sqlx::PgConnection, script: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(connection, script)
        .await
        .map(|_| ())
}

/// Most transaction ids whose positions fit a `bigint`: `id << 20` must stay below 2^63.
const MAX_TRANSACTION_ID: u64 = 1 << (63 - 20);

/// Refuses a schema whose stored positions are ahead of this cluster's transaction ids
/// (see `positions.sql`), or a cluster whose ids no longer fit the position's shift.
async fn check_positions(
    tx: &mut sqlx::PgConnection,
    schema: &SchemaName,
) -> Result<(), SetupError> {
    let (stored, current): (i64, i64) =
        sqlx::query_as(&schema.render(include_str!("positions.sql")))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| SetupError::Store(map_sqlx("migrate", e)))?;
    let (stored, current) = (stored.max(0) as u64, current.max(0) as u64);
    if current >= MAX_TRANSACTION_ID {
        return Err(SetupError::TransactionIdsExhausted {
            schema: schema.to_string(),
            current_transaction: current,
        });
    }
    let stored_transaction = stored >> INDEX_BITS;
    if stored_transaction >= current {
        return Err(SetupError::PositionsAhead {
            schema: schema.to_string(),
            stored_position: stored,
            stored_transaction,
            current_transaction: current,
            epoch: (stored_transaction >> 32) + 1,
        });
    }
    Ok(())
}
