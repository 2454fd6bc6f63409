//! Commands/s: load every event, decide, append one, on 8 concurrent tasks.

use cqrs_core::{Aggregate, Repository};
use cqrs_postgres::sqlx;
use cqrs_postgres::sqlx::postgres::PgPool;
use cqrs_postgres::PgEventStore;

use super::*;
use crate::counter::{Counter, CounterEvent, Increment};
use crate::table::{Row, Table};

pub(super) async fn commands(
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
