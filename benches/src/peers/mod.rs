//! The peers group (issue 15): cqrs-rs beside the naive raw-sqlx floor and two other Rust
//! event-sourcing libraries, on the same PostgreSQL, the same counter aggregate
//! ([`crate::counter`]: one `Incremented { by: 1 }` per command, `value += by`) and the same
//! workloads, all in one run:
//!
//! - **W1**: 1,000 aggregates x 10 commands on 8 concurrent tasks, each system with a pool of
//!   10; every command loads every event of its aggregate, decides and appends one event.
//!   Figure: commands/s.
//! - **W2**: 20 sequential commands on one 10,000-event aggregate (no snapshot); the systems
//!   take turns command by command (the first of each round rotates), so drift in the
//!   machine's speed hits all alike. Figure: the median ms per command.
//!
//! Each system lives in its own fresh schema, dropped at the end; each is driven through its
//! own API as its README shows (one file per system). The group cannot pass silently: after
//! W1 every aggregate is loaded back through the system's own load path and must be at value
//! 10 and version 10, and after W2 the long aggregate at 10,000 + 22 (20 timed commands and
//! 2 warm-up ones); anything else panics, naming the system.

use std::sync::Arc;

use futures::future::BoxFuture;
use uuid::Uuid;

use crate::table::Table;

mod cqrs_es_postgres;
mod esrs_pg;
mod naive;
mod ours;
mod report;
mod workload;

pub use workload::Workload;

/// Connections per system (the issue's "pool of 10").
const POOL: u32 = 10;
/// Attempts per command for a system that reports a lost race, the same as cqrs-rs's
/// `Repository` default retry policy (whose retries are its own).
const ATTEMPTS: usize = 5;

/// How one attempt at a command ended.
enum Attempt {
    Committed,
    /// Another writer appended the same version first; the command reloads and decides again.
    LostRace,
}

/// Runs `attempt` until it commits, at most [`ATTEMPTS`] times (W1 sends one task's
/// commands to one aggregate at a time, so a lost race needs one task to fall a whole
/// round of aggregates behind: rare, but then every system retries alike).
async fn retry_lost_races<F, Fut>(system: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    for _ in 0..ATTEMPTS {
        if let Attempt::Committed = attempt().await {
            return;
        }
    }
    panic!("{system}: a command lost {ATTEMPTS} races in a row");
}

/// Whether `error` is PostgreSQL's `unique_violation` (SQLSTATE 23505): the lost race of
/// the systems that guard versions with a unique key.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("23505"))
}

/// The aggregate a command goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// W1's aggregate number `n` (`0..aggregates`).
    Account(usize),
    /// W2's long aggregate.
    Long,
}

/// What a system's figures are compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The naive raw-sqlx floor.
    Floor,
    /// cqrs-rs `Repository::new`: the figure the goals are about.
    Ours,
    /// cqrs-rs `Repository::with_cache`.
    OursCached,
    /// Another configuration of cqrs-rs, shown for reference only.
    OursVariant,
    /// Another library.
    Peer,
}

/// One system under test, set up in its own schema with W2's long aggregate already filled.
pub trait System: Send + Sync {
    /// The system's row label.
    fn name(&self) -> &'static str;
    /// What its figures are compared as.
    fn role(&self) -> Role;
    /// One command on `target`: load every event, decide, append one event; panics on any
    /// error (the workloads have no domain refusals and, one task per aggregate at a time,
    /// no conflicts a system could not handle).
    fn command(&self, target: Target) -> BoxFuture<'_, ()>;
    /// `(value, version)` of `target`, loaded through the system's own load path.
    fn state(&self, target: Target) -> BoxFuture<'_, (u64, u64)>;
}

/// Runs the peers group with the issue's workload, adds its ratio rows to `table` and
/// returns the group's own system table (Markdown). `None` when PostgreSQL is unreachable.
pub async fn run(table: &mut Table, database_url: &str) -> Option<String> {
    let report = measure(database_url, Workload::ISSUE).await?;
    report.add_rows(table);
    Some(report.to_markdown())
}

/// Sets every system up, runs W1 and W2 on each and drops their schemas.
async fn measure(database_url: &str, workload: Workload) -> Option<report::Report> {
    let admin = match sqlx::PgPool::connect(database_url).await {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("  peers: skipped, cannot connect to {database_url}: {error}");
            return None;
        }
    };
    let run_id = &Uuid::new_v4().simple().to_string()[..8];
    let mut schemas = Vec::new();
    let mut fresh_schema = |system: &str| {
        let name = format!("peers_{system}_{run_id}");
        schemas.push(name.clone());
        name
    };
    let plans = [
        ("naive", Kind::Naive),
        ("ours", Kind::Ours(ours::Variant::NoCache)),
        (
            "ours_nocoal",
            Kind::Ours(ours::Variant::NoCacheNoCoalescing),
        ),
        ("ours_cache", Kind::Ours(ours::Variant::Cache)),
        ("cqrs_es", Kind::CqrsEs),
        ("esrs", Kind::Esrs),
    ];
    let mut systems: Vec<Arc<dyn System>> = Vec::new();
    for (tag, kind) in plans {
        let schema = fresh_schema(tag);
        create_schema(&admin, &schema).await;
        systems.push(kind.start(database_url, &schema, &workload).await);
    }
    for schema in &schemas {
        vacuum_schema(&admin, schema).await;
    }
    // A failed check panics inside the task; the schemas are dropped before the panic goes on.
    let running = systems.clone();
    let outcome = tokio::spawn(async move { workload::run(&running, &workload).await }).await;
    drop(systems);
    for schema in &schemas {
        drop_schema(&admin, schema).await;
    }
    match outcome {
        Ok(report) => Some(report),
        Err(failed) => std::panic::resume_unwind(failed.into_panic()),
    }
}

async fn create_schema(admin: &sqlx::PgPool, schema: &str) {
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin)
        .await
        .expect("create schema");
}

async fn drop_schema(admin: &sqlx::PgPool, schema: &str) {
    if let Err(error) = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(admin)
        .await
    {
        eprintln!("  peers: cannot drop {schema}: {error}");
    }
}

/// `VACUUM (ANALYZE)` of every table in `schema`: the same planner statistics and hint bits
/// for every system's tables before timing, and no reason for autovacuum to compete.
async fn vacuum_schema(admin: &sqlx::PgPool, schema: &str) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1",
    )
    .bind(schema)
    .fetch_all(admin)
    .await
    .expect("list tables");
    for table in tables {
        sqlx::query(&format!("VACUUM (ANALYZE) {table}"))
            .execute(admin)
            .await
            .expect("vacuum");
    }
}

/// Which system to start.
enum Kind {
    Naive,
    Ours(ours::Variant),
    CqrsEs,
    Esrs,
}

impl Kind {
    async fn start(self, database_url: &str, schema: &str, workload: &Workload) -> Arc<dyn System> {
        match self {
            Kind::Naive => Arc::new(naive::Naive::start(database_url, schema, workload).await),
            Kind::Ours(variant) => {
                Arc::new(ours::Ours::start(database_url, schema, variant, workload).await)
            }
            Kind::CqrsEs => {
                Arc::new(cqrs_es_postgres::CqrsEs::start(database_url, schema, workload).await)
            }
            Kind::Esrs => Arc::new(esrs_pg::Esrs::start(database_url, schema, workload).await),
        }
    }
}

/// A pool of [`POOL`] connections whose `search_path` is `schema`, for the systems that
/// create and use unqualified tables (postgres-es, esrs).
async fn pool_in(database_url: &str, schema: &str) -> sqlx::PgPool {
    let options: sqlx::postgres::PgConnectOptions = database_url.parse().expect("database url");
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(POOL)
        .connect_with(options.options([("search_path", schema)]))
        .await
        .expect("pool")
}

#[cfg(test)]
mod tests;
