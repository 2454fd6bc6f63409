//! PostgreSQL store figures, each beside a naive raw-sqlx baseline measured in the same run
//! on the same database. Everything lives in a fresh schema that is dropped at the end.
//!
//! Needs a multi-threaded tokio runtime (writers run as concurrent tasks).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use cqrs_postgres::sqlx;
use cqrs_postgres::sqlx::postgres::PgPoolOptions;
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
use uuid::Uuid;

use crate::counter::{CounterEvent, INCREMENT_JSON};
use crate::table::Table;

mod batches;
mod commands;
mod loads;

use batches::{batch_append, catch_up};
use commands::commands;
use loads::load_latency;

const GROUP: &str = "postgres";
/// Concurrent tasks for the command and batch workloads (the peers group's too).
pub(crate) const TASKS: usize = 8;
/// Connections per pool (ours and the baseline's get the same).
const POOL: u32 = 8;
const AGGREGATES: usize = 1_000;
const COMMANDS_PER_AGGREGATE: usize = 10;
const LONG_STREAM: usize = 10_000;
/// Timed loads per figure; baseline and store loads alternate, so drift in the machine's
/// speed hits both alike, and the figures are medians.
const LOAD_RUNS: usize = 60;
const BATCH: usize = 100;
const BATCH_CALLS: usize = 2_000;
const PAGE: usize = 5_000;

/// What the naive baseline decodes a row into.
#[allow(dead_code)]
#[derive(Debug)]
struct NaiveEvent {
    position: i64,
    stream_id: String,
    version: i64,
    event_id: Uuid,
    event_type: String,
    payload: CounterEvent,
    recorded_at: DateTime<Utc>,
}

/// The baseline's table: the same columns as the store's, a bigserial position.
pub(crate) const NAIVE_TABLE: &str = "CREATE TABLE {schema}.naive_events (
    position    bigserial PRIMARY KEY,
    stream_id   text NOT NULL,
    version     bigint NOT NULL,
    event_id    uuid NOT NULL UNIQUE,
    event_type  text NOT NULL,
    payload     jsonb NOT NULL,
    metadata    jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
)";

pub(crate) const NAIVE_INSERT: &str = "INSERT INTO {schema}.naive_events
    (stream_id, version, event_id, event_type, payload, metadata) VALUES ($1, $2, $3, $4, $5::jsonb, '{}'::jsonb)";

/// One baseline row: `Incremented { by: 1 }` at `version` of `stream`, for [`NAIVE_INSERT`].
fn naive_insert<'q>(
    insert: &'q str,
    stream: &'q str,
    version: usize,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(insert)
        .bind(stream)
        .bind(version as i64)
        .bind(Uuid::now_v7())
        .bind("Incremented")
        .bind(INCREMENT_JSON)
}

/// Runs every PostgreSQL figure against `database_url` and adds the rows to `table`.
pub async fn run(table: &mut Table, database_url: &str) {
    let id = Uuid::new_v4().simple().to_string();
    let schema = SchemaName::new(format!("bench_{}", &id[..12])).expect("schema name");
    let config = PgEventStoreConfig::new(schema.clone()).max_connections(POOL);
    let store = match PgEventStore::connect(database_url, config).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("  postgres: skipped, cannot connect to {database_url}: {error}");
            return;
        }
    };
    store.migrate().await.expect("migrate");
    let naive = PgPoolOptions::new()
        .max_connections(POOL)
        .connect(database_url)
        .await
        .expect("baseline pool");
    let render = |sql: &str| sql.replace("{schema}", &schema.quoted());
    sqlx::query(&render(NAIVE_TABLE))
        .execute(&naive)
        .await
        .expect("baseline table");
    let insert = render(NAIVE_INSERT);

    commands(table, &store, &naive, &render).await;
    load_latency(table, &store, &naive, &render, &insert).await;
    batch_append(table, &store, &naive, &insert).await;
    catch_up(table, &store, &naive, &render).await;

    let drop_schema = format!("DROP SCHEMA {} CASCADE", schema.quoted());
    if let Err(error) = sqlx::query(&drop_schema).execute(&naive).await {
        eprintln!("  postgres: cannot drop {schema}: {error}");
    }
}

/// Runs `job(i)` for `i` in `0..jobs` on [`TASKS`] concurrent tasks; returns jobs/s.
pub(crate) async fn concurrently<F, Fut>(jobs: usize, job: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        return;
                    }
                    job(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("bench task");
    }
    jobs as f64 / started.elapsed().as_secs_f64()
}
