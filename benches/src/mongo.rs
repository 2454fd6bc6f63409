//! MongoDB store figures, each beside a naive raw-driver baseline from the same run.
//!
//! Runs in a fresh database on the server named by `MONGODB_URL` (a replica set), dropped
//! at the end. Workloads are the Postgres group's: commands/s (1,000 aggregates x 10
//! commands, 8 concurrent tasks), load latency of a 10,000-event stream with and without a
//! snapshot, batch appends of 100 events, and catch-up reads of the global log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use cqrs_core::{
    stream_id, Aggregate, EventStore, ExpectedVersion, JsonPayload, Metadata, Repository, Snapshot,
    SnapshotPolicy,
};
use cqrs_mongo::{MongoEventStore, MongoEventStoreConfig};
use futures::{StreamExt, TryStreamExt};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use crate::counter::{increments, Counter, Increment};
use crate::table::{Row, Table};

const GROUP: &str = "mongo";
const AGGREGATES: usize = 1_000;
const COMMANDS_PER_AGGREGATE: usize = 10;
const TASKS: usize = 8;
const LONG_STREAM: usize = 10_000;
const LOADS: usize = 20;
const BATCH: usize = 100;
const BATCHES: usize = 100;
const PAGE: usize = 1_000;

pub async fn run(table: &mut Table, url: &str) {
    let database = format!("cqrs_bench_{}", uuid::Uuid::new_v4().simple());
    let store = MongoEventStore::connect(url, MongoEventStoreConfig::new(&database))
        .await
        .expect("connect to MONGODB_URL");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    let naive = Naive::create(&store).await;

    commands(table, &store, &naive).await;
    loads(table, &store, &naive).await;
    batches(table, &store, &naive).await;
    catch_up(table, &store).await;

    if let Err(error) = store.database().drop().await {
        eprintln!("  could not drop benchmark database {database}: {error}");
    }
}

async fn commands(table: &mut Table, store: &Arc<MongoEventStore>, naive: &Naive) {
    let total = (AGGREGATES * COMMANDS_PER_AGGREGATE) as f64;
    let baseline = {
        let started = Instant::now();
        run_tasks(|task| async move {
            for round in 0..COMMANDS_PER_AGGREGATE {
                for a in (task..AGGREGATES).step_by(TASKS) {
                    naive.command(&format!("Naive-{a}"), round).await;
                }
            }
        })
        .await;
        total / started.elapsed().as_secs_f64()
    };
    let counters = Repository::<Counter, _>::new(store.clone());
    let started = Instant::now();
    run_tasks(|task| {
        let counters = &counters;
        async move {
            for _ in 0..COMMANDS_PER_AGGREGATE {
                for a in (task..AGGREGATES).step_by(TASKS) {
                    counters
                        .execute(Increment { id: a.to_string() })
                        .await
                        .expect("command");
                }
            }
        }
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!(
            "commands, {AGGREGATES} aggregates x {COMMANDS_PER_AGGREGATE}, {TASKS} tasks"
        ),
        value: total / started.elapsed().as_secs_f64(),
        unit: "commands/s",
        baseline: Some((
            "raw driver: find stream + insert_one, no transaction".into(),
            baseline,
        )),
        target: ">= 0.3x baseline (transaction + ordered positions)".into(),
    });
}

async fn loads(table: &mut Table, store: &Arc<MongoEventStore>, naive: &Naive) {
    let id = "long";
    let stream = stream_id::<Counter>(id);
    for chunk in 0..LONG_STREAM / BATCH {
        let expected = ExpectedVersion::from_loaded((chunk * BATCH) as u64);
        store
            .append(&stream, expected, increments(BATCH), &Metadata::default())
            .await
            .expect("append");
    }
    let raw = mean(LOADS, || async { naive.read_raw(&stream).await }).await;

    let plain = Repository::<Counter, _>::new(store.clone());
    let no_snapshot = mean(LOADS, || async {
        let loaded = plain.load(id).await.expect("load");
        assert_eq!(loaded.state.value, LONG_STREAM as u64);
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!("load {LONG_STREAM}-event stream, no snapshot"),
        value: no_snapshot.as_secs_f64() * 1000.0,
        unit: "ms",
        baseline: Some((
            "raw driver: find the stream's documents".into(),
            raw.as_secs_f64() * 1000.0,
        )),
        target: "<= 2x baseline".into(),
    });

    store
        .save_snapshot(Snapshot {
            stream_id: stream.clone(),
            version: LONG_STREAM as u64,
            schema_version: Counter::SNAPSHOT_VERSION,
            state: JsonPayload::from_serialize(&Counter {
                value: LONG_STREAM as u64,
            })
            .expect("state"),
            taken_at: chrono::Utc::now(),
        })
        .await
        .expect("snapshot");
    let snapshots = Repository::<Counter, _>::new(store.clone())
        .with_snapshots(SnapshotPolicy::EveryNEvents(1_000));
    let with_snapshot = mean(LOADS, || async {
        let loaded = snapshots.load(id).await.expect("load");
        assert_eq!(loaded.from_snapshot, Some(LONG_STREAM as u64));
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!("load {LONG_STREAM}-event stream, snapshot at the head"),
        value: with_snapshot.as_secs_f64() * 1000.0,
        unit: "ms",
        baseline: Some((
            "the same load without snapshot".into(),
            no_snapshot.as_secs_f64() * 1000.0,
        )),
        target: "<= 0.1x baseline".into(),
    });
}

async fn batches(table: &mut Table, store: &Arc<MongoEventStore>, naive: &Naive) {
    let total = (BATCH * BATCHES) as f64;
    let started = Instant::now();
    for b in 0..BATCHES {
        naive.insert_batch(&format!("NaiveBatch-{b}"), BATCH).await;
    }
    let baseline = total / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for b in 0..BATCHES {
        store
            .append(
                &format!("Batch-{b}"),
                ExpectedVersion::NoStream,
                increments(BATCH),
                &Metadata::default(),
            )
            .await
            .expect("append");
    }
    table.push(Row {
        group: GROUP,
        name: format!("append, {BATCH} events per call"),
        value: total / started.elapsed().as_secs_f64(),
        unit: "events/s",
        baseline: Some((
            "raw driver: insert_many of the same documents".into(),
            baseline,
        )),
        target: ">= 0.5x baseline".into(),
    });
}

async fn catch_up(table: &mut Table, store: &Arc<MongoEventStore>) {
    let events: Collection<Document> = store
        .database()
        .collection(&store.config().events_collection);
    let started = Instant::now();
    let mut cursor = events
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .expect("find");
    let mut raw = 0usize;
    while cursor.try_next().await.expect("cursor").is_some() {
        raw += 1;
    }
    let baseline = raw as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (mut next, mut read) = (1u64, 0usize);
    loop {
        let page = store.read_all(next, PAGE).await.expect("read_all");
        let Some(last) = page.last() else { break };
        next = last.position + 1;
        read += page.len();
    }
    assert_eq!(read, raw, "catch-up reads every event");
    table.push(Row {
        group: GROUP,
        name: format!("catch-up read_all, pages of {PAGE}, {read} events"),
        value: read as f64 / started.elapsed().as_secs_f64(),
        unit: "events/s",
        baseline: Some((
            "raw driver: one sorted cursor, documents not decoded".into(),
            baseline,
        )),
        target: ">= 0.3x baseline".into(),
    });
}

/// What a hand-written store without transactions or global positions would do.
struct Naive {
    events: Collection<Document>,
}

impl Naive {
    async fn create(store: &MongoEventStore) -> Self {
        let events: Collection<Document> = store.database().collection("naive_events");
        let unique = IndexModel::builder()
            .keys(doc! { "stream_id": 1, "stream_version": 1 })
            .options(IndexOptions::builder().unique(true).build())
            .build();
        events.create_index(unique).await.expect("naive index");
        Self { events }
    }

    /// Load the stream's events, decide, insert the next version (the unique index is the
    /// only concurrency control).
    async fn command(&self, stream: &str, expected_round: usize) {
        let version = self.read_raw(stream).await;
        assert_eq!(version, expected_round, "naive stream `{stream}` version");
        self.events
            .insert_one(doc! {
                "stream_id": stream,
                "stream_version": version as i64 + 1,
                "event_type": "Incremented",
                "payload": { "Incremented": { "by": 1 } },
            })
            .await
            .expect("naive insert");
    }

    async fn read_raw(&self, stream: &str) -> usize {
        let cursor = self
            .events
            .find(doc! { "stream_id": stream })
            .sort(doc! { "stream_version": 1 })
            .await
            .expect("naive find");
        cursor.count().await
    }

    async fn insert_batch(&self, stream: &str, size: usize) {
        let documents = (0..size).map(|v| {
            doc! {
                "stream_id": stream,
                "stream_version": v as i64 + 1,
                "event_id": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: uuid::Uuid::now_v7().as_bytes().to_vec() },
                "event_type": "Incremented",
                "payload": { "Incremented": { "by": 1 } },
            }
        });
        self.events
            .insert_many(documents)
            .await
            .expect("naive insert_many");
    }
}

async fn run_tasks<F, Fut>(task: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures::future::join_all((0..TASKS).map(task)).await;
}

async fn mean<F, Fut, T>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    f().await; // warm-up
    let started = Instant::now();
    for _ in 0..runs {
        f().await;
    }
    started.elapsed() / runs as u32
}
