//! PostgreSQL store figures, each beside a naive raw-sqlx baseline measured in the same run
//! on the same database. Everything lives in a fresh schema that is dropped at the end.
//!
//! Needs a multi-threaded tokio runtime (writers run as concurrent tasks).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use cqrs_core::{
    Aggregate, EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent, Repository, Snapshot,
    SnapshotPolicy,
};
use cqrs_postgres::sqlx::postgres::{PgPool, PgPoolOptions};
use cqrs_postgres::sqlx::{self, Row as _};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
use uuid::Uuid;

use crate::counter::{increments, Counter, CounterEvent, Increment, INCREMENT_JSON};
use crate::table::{Row, Table};

const GROUP: &str = "postgres";
/// Concurrent tasks for the command and batch workloads.
const TASKS: usize = 8;
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
const NAIVE_TABLE: &str = "CREATE TABLE {schema}.naive_events (
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

const NAIVE_INSERT: &str = "INSERT INTO {schema}.naive_events
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
async fn concurrently<F, Fut>(jobs: usize, job: F) -> f64
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

async fn commands(
    table: &mut Table,
    store: &PgEventStore,
    naive: &PgPool,
    render: &dyn Fn(&str) -> String,
) {
    let total = AGGREGATES * COMMANDS_PER_AGGREGATE;
    // Baseline: BEGIN; SELECT the stream's rows; INSERT one row; COMMIT.
    let select = Arc::new(render(
        "SELECT payload FROM {schema}.naive_events WHERE stream_id = $1 ORDER BY version",
    ));
    let insert = Arc::new(render(NAIVE_INSERT));
    let pool = naive.clone();
    let baseline = concurrently(total, move |i| {
        let (pool, select, insert) = (pool.clone(), select.clone(), insert.clone());
        async move {
            let stream = format!("Naive-{}", i % AGGREGATES);
            let mut tx = pool.begin().await.expect("begin");
            let rows: Vec<sqlx::types::Json<CounterEvent>> = sqlx::query_scalar(&select)
                .bind(&stream)
                .fetch_all(&mut *tx)
                .await
                .expect("select");
            let mut state = Counter::default();
            for event in &rows {
                state.apply(&event.0);
            }
            naive_insert(&insert, &stream, rows.len() + 1)
                .execute(&mut *tx)
                .await
                .expect("insert");
            tx.commit().await.expect("commit");
        }
    })
    .await;

    let counters =
        Repository::<Counter, _>::new(Arc::new(store.clone())).with_cache(AGGREGATES * 2);
    let ids: Arc<Vec<String>> = Arc::new((0..AGGREGATES).map(|i| i.to_string()).collect());
    let ours = concurrently(total, move |i| {
        let (counters, ids) = (counters.clone(), ids.clone());
        async move {
            counters
                .execute(Increment {
                    id: ids[i % AGGREGATES].clone(),
                })
                .await
                .expect("command");
        }
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!("commands, {AGGREGATES} aggregates x {COMMANDS_PER_AGGREGATE}, {TASKS} tasks (Repository with_cache)"),
        value: ours,
        unit: "commands/s",
        baseline: Some(("raw sqlx BEGIN; SELECT stream; INSERT; COMMIT".into(), baseline)),
        target: ">= 1.5x baseline".into(),
    });
}

async fn load_latency(
    table: &mut Table,
    store: &PgEventStore,
    naive: &PgPool,
    render: &dyn Fn(&str) -> String,
    insert: &str,
) {
    // The same 10,000 events in both tables.
    let meta = Metadata::default();
    for chunk in 0..LONG_STREAM / BATCH {
        store
            .append(
                "Counter-long",
                ExpectedVersion::Exact((chunk * BATCH) as u64),
                increments(BATCH),
                &meta,
            )
            .await
            .expect("fill long stream");
        let mut tx = naive.begin().await.expect("begin");
        for v in 0..BATCH {
            naive_insert(insert, "Naive-long", chunk * BATCH + v + 1)
                .execute(&mut *tx)
                .await
                .expect("fill baseline stream");
        }
        tx.commit().await.expect("commit");
    }
    // Fresh statistics for both tables, so both reads get the same planner treatment
    // (an index scan of the (stream, version) key, no sort); vacuumed, so hint bits are
    // set and autovacuum has no reason to compete with the timed reads.
    for table in ["events", "naive_events"] {
        sqlx::query(&render(&format!("VACUUM (ANALYZE) {{schema}}.{table}")))
            .execute(naive)
            .await
            .expect("analyze");
    }

    let select =
        render("SELECT payload FROM {schema}.naive_events WHERE stream_id = $1 ORDER BY version");
    let raw_load = || async {
        let rows: Vec<sqlx::types::Json<CounterEvent>> = sqlx::query_scalar(&select)
            .bind("Naive-long")
            .fetch_all(naive)
            .await
            .expect("select");
        let mut state = Counter::default();
        for event in &rows {
            state.apply(&event.0);
        }
        assert_eq!(state.value, LONG_STREAM as u64);
    };

    let counters = Repository::<Counter, _>::new(Arc::new(store.clone()));
    let (baseline, without) = paired_median_latency(raw_load, || async {
        let loaded = counters.load("long").await.expect("load");
        assert_eq!(loaded.version, LONG_STREAM as u64);
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!("load a {LONG_STREAM}-event stream, no snapshot (median of {LOAD_RUNS})"),
        value: without,
        unit: "ms",
        baseline: Some(("raw sqlx SELECT + serde decode".into(), baseline)),
        target: "<= 1.2x baseline".into(),
    });

    let state = Counter {
        value: LONG_STREAM as u64,
    };
    store
        .save_snapshot(Snapshot {
            stream_id: "Counter-long".into(),
            version: LONG_STREAM as u64,
            schema_version: Counter::SNAPSHOT_VERSION,
            state: JsonPayload::from_serialize(&state).expect("state"),
            taken_at: Utc::now(),
        })
        .await
        .expect("snapshot");
    let snapshotted = Repository::<Counter, _>::new(Arc::new(store.clone()))
        .with_snapshots(SnapshotPolicy::EveryNEvents(1_000));
    let (baseline, with) = paired_median_latency(raw_load, || async {
        let loaded = snapshotted.load("long").await.expect("load");
        assert_eq!(loaded.from_snapshot, Some(LONG_STREAM as u64));
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!("load a {LONG_STREAM}-event stream, with snapshot (median of {LOAD_RUNS})"),
        value: with,
        unit: "ms",
        baseline: Some((
            "raw sqlx SELECT + serde decode, all events".into(),
            baseline,
        )),
        target: "< 1 ms".into(),
    });
}

/// Median latencies in milliseconds of `baseline` and `ours`, called alternately
/// [`LOAD_RUNS`] times each after two warm-up calls of each.
async fn paired_median_latency<B, BFut, O, OFut>(baseline: B, ours: O) -> (f64, f64)
where
    B: Fn() -> BFut,
    BFut: std::future::Future<Output = ()>,
    O: Fn() -> OFut,
    OFut: std::future::Future<Output = ()>,
{
    for _ in 0..2 {
        baseline().await;
        ours().await;
    }
    let (mut theirs, mut mine) = (Vec::new(), Vec::new());
    for _ in 0..LOAD_RUNS {
        let started = Instant::now();
        baseline().await;
        theirs.push(started.elapsed().as_secs_f64() * 1_000.0);
        let started = Instant::now();
        ours().await;
        mine.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    (median(&mut theirs), median(&mut mine))
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

async fn batch_append(table: &mut Table, store: &PgEventStore, naive: &PgPool, insert: &str) {
    // Baseline: one transaction of 100 single-row INSERTs per batch.
    let pool = naive.clone();
    let insert = Arc::new(insert.to_owned());
    let baseline_calls = BATCH_CALLS / 4;
    let baseline = concurrently(baseline_calls, move |i| {
        let (pool, insert) = (pool.clone(), insert.clone());
        async move {
            let stream = format!("NaiveBatch-{i}");
            let mut tx = pool.begin().await.expect("begin");
            for v in 0..BATCH {
                naive_insert(&insert, &stream, v + 1)
                    .execute(&mut *tx)
                    .await
                    .expect("insert");
            }
            tx.commit().await.expect("commit");
        }
    })
    .await
        * BATCH as f64;

    let batches: Arc<Vec<std::sync::Mutex<Option<Vec<NewEvent>>>>> = Arc::new(
        (0..BATCH_CALLS)
            .map(|_| std::sync::Mutex::new(Some(increments(BATCH))))
            .collect(),
    );
    let store = store.clone();
    let ours = concurrently(BATCH_CALLS, move |i| {
        let (store, batches) = (store.clone(), batches.clone());
        async move {
            let batch = batches[i]
                .lock()
                .expect("batch")
                .take()
                .expect("each batch once");
            store
                .append(
                    &format!("Batch-{i}"),
                    ExpectedVersion::NoStream,
                    batch,
                    &Metadata::default(),
                )
                .await
                .expect("append");
        }
    })
    .await
        * BATCH as f64;
    table.push(Row {
        group: GROUP,
        name: format!("batch append, {BATCH} events per call, {TASKS} tasks"),
        value: ours,
        unit: "events/s",
        baseline: Some((
            format!("raw sqlx: {BATCH} INSERTs in one transaction"),
            baseline,
        )),
        target: ">= 100,000 events/s".into(),
    });
}

async fn catch_up(
    table: &mut Table,
    store: &PgEventStore,
    naive: &PgPool,
    render: &dyn Fn(&str) -> String,
) {
    let page = render(
        "SELECT position, stream_id, version, event_id, event_type, payload, recorded_at
         FROM {schema}.naive_events WHERE position > $1 ORDER BY position LIMIT $2",
    );
    let started = Instant::now();
    let (mut last, mut read) = (0i64, 0usize);
    loop {
        let rows = sqlx::query(&page)
            .bind(last)
            .bind(PAGE as i64)
            .fetch_all(naive)
            .await
            .expect("page");
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let event = NaiveEvent {
                position: row.get(0),
                stream_id: row.get(1),
                version: row.get(2),
                event_id: row.get(3),
                event_type: row.get(4),
                payload: row.get::<sqlx::types::Json<CounterEvent>, _>(5).0,
                recorded_at: row.get(6),
            };
            last = event.position;
        }
        read += rows.len();
    }
    let baseline = read as f64 / started.elapsed().as_secs_f64();
    let baseline_read = read;

    let started = Instant::now();
    let (mut from, mut read) = (1u64, 0usize);
    let mut state = Counter::default();
    let decode = cqrs_core::Upcasters::new();
    loop {
        let events = store.read_all(from, PAGE).await.expect("read_all");
        let Some(last) = events.last() else { break };
        from = last.position + 1;
        read += events.len();
        for event in &events {
            state.apply(&event.decode::<CounterEvent>(&decode).expect("decode"));
        }
    }
    let ours = read as f64 / started.elapsed().as_secs_f64();
    assert_eq!(state.value, read as u64);
    table.push(Row {
        group: GROUP,
        name: format!("catch-up through read_all, pages of {PAGE}, decoded ({read} events)"),
        value: ours,
        unit: "events/s",
        baseline: Some((
            format!("raw sqlx paging by position + serde decode ({baseline_read} rows)"),
            baseline,
        )),
        target: ">= 200,000 events/s".into(),
    });
}
