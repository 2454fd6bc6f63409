//! Latency of a command on a long stream, with and without a snapshot.

use crate::table::median;
use std::time::Instant;

use chrono::Utc;
use cqrs_core::{
    Aggregate, EventStore, ExpectedVersion, JsonPayload, Metadata, Repository, Snapshot,
    SnapshotPolicy,
};
use cqrs_postgres::sqlx;
use cqrs_postgres::sqlx::postgres::PgPool;
use cqrs_postgres::PgEventStore;

use super::*;
use crate::counter::{increments, Counter, CounterEvent};
use crate::table::{Row, Table};

pub(super) async fn load_latency(
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
