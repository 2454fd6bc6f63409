//! Batch appends and catch-up reads of the global log.

use std::time::Instant;

use cqrs_core::{Aggregate, EventStore, ExpectedVersion, Metadata, NewEvent};
use cqrs_postgres::sqlx::postgres::PgPool;
use cqrs_postgres::sqlx::{self, Row as _};
use cqrs_postgres::PgEventStore;

use super::*;
use crate::counter::{increments, Counter, CounterEvent};
use crate::table::{Row, Table};

pub(super) async fn batch_append(
    table: &mut Table,
    store: &PgEventStore,
    naive: &PgPool,
    insert: &str,
) {
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

pub(super) async fn catch_up(
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
