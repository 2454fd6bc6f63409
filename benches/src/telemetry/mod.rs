//! The cost of observability: commands/s with the metrics recorder (Prometheus) and, on
//! PostgreSQL, OpenTelemetry trace export installed, beside the same workload without
//! them, in the same run.
//!
//! A process has one metrics recorder and one tracing subscriber, installed once. So that
//! the runs with and without alternate (drift in the machine's speed hits both alike), both
//! are installed behind a switch: off, the recorder hands out no-op handles (what the
//! `metrics` facade does without a recorder) and the subscriber's filter disables every
//! span (what `tracing` does without a subscriber); on, every metric goes to the
//! Prometheus recorder, which a task renders every second as a scrape would, and every
//! span to an OTLP/HTTP exporter (batch processor) that sends to a local sink.

mod sink;
mod switch;

use std::sync::Arc;

use cqrs_core::{EventStore, InMemoryEventStore, Repository};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
use uuid::Uuid;

use crate::counter::{Counter, Increment};
use crate::postgres::concurrently;
use crate::table::{Row, Table};
use switch::Switch;

const GROUP: &str = "telemetry";
/// Alternating rounds of each setting; each figure is the median.
const ROUNDS: usize = 5;
const MEMORY_COMMANDS: usize = 50_000;
const PG_AGGREGATES: usize = 200;
const PG_COMMANDS: usize = 2_000;

pub async fn run(table: &mut Table, database_url: &str) {
    let sink = sink::start().await;
    let switch = Switch::install(&sink.endpoint());

    // In memory, metrics only: the recorder's cost on the cheapest command there is.
    let memory = Arc::new(InMemoryEventStore::new());
    let (with, without) = alternate(&switch, false, || {
        commands(memory.clone(), MEMORY_COMMANDS, 1_000)
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!(
            "in-memory commands ({MEMORY_COMMANDS}, full load), Prometheus recorder installed"
        ),
        value: with,
        unit: "commands/s",
        baseline: Some(("same commands, no recorder".into(), without)),
        target: ">= 0.95x baseline".into(),
    });
    let (with, without) = alternate(&switch, true, || {
        commands(memory.clone(), MEMORY_COMMANDS, 1_000)
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!(
            "in-memory commands ({MEMORY_COMMANDS}), recorder + every span exported over OTLP"
        ),
        value: with,
        unit: "commands/s",
        baseline: Some(("same commands, no recorder, no exporter".into(), without)),
        target: "(reported: 3 spans per command of a few microseconds)".into(),
    });

    let id = Uuid::new_v4().simple().to_string();
    let schema = SchemaName::new(format!("bench_{}", &id[..12])).expect("schema name");
    let config = PgEventStoreConfig::new(schema.clone()).max_connections(8);
    let store = match PgEventStore::connect(database_url, config).await {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!(
                "  telemetry: postgres rows skipped, cannot connect to {database_url}: {error}"
            );
            return;
        }
    };
    store.migrate().await.expect("migrate");
    let (with, without) = alternate(&switch, true, || {
        commands(store.clone(), PG_COMMANDS, PG_AGGREGATES)
    })
    .await;
    table.push(Row {
        group: GROUP,
        name: format!("PostgreSQL commands ({PG_AGGREGATES} aggregates, 8 tasks, Repository::new), recorder + every span exported over OTLP"),
        value: with,
        unit: "commands/s",
        baseline: Some(("same commands, no recorder, no exporter".into(), without)),
        target: ">= 0.95x baseline".into(),
    });
    let spans = sink.spans_received();
    eprintln!(
        "  telemetry: the sink received {} export requests, {} KiB",
        spans.requests,
        spans.bytes / 1024
    );
    let drop_schema = format!("DROP SCHEMA {} CASCADE", schema.quoted());
    if let Err(error) = cqrs_postgres::sqlx::query(&drop_schema)
        .execute(store.pool())
        .await
    {
        eprintln!("  telemetry: cannot drop {schema}: {error}");
    }
}

/// Median commands/s with telemetry on (`traces`: spans exported too) and off, in
/// alternating rounds.
async fn alternate<F, Fut>(switch: &Switch, traces: bool, round: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        switch.set(false, false);
        off.push(round().await);
        switch.set(true, traces);
        on.push(round().await);
        switch.flush();
    }
    switch.set(false, false);
    (median(on), median(off))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `commands` increments over `aggregates` fresh counters on 8 tasks; commands/s.
async fn commands<S: EventStore>(store: Arc<S>, commands: usize, aggregates: usize) -> f64 {
    let counters = Repository::<Counter, _>::new(store);
    let run = Uuid::new_v4().simple().to_string();
    let ids: Arc<Vec<String>> = Arc::new((0..aggregates).map(|i| format!("{run}-{i}")).collect());
    concurrently(commands, move |i| {
        let (counters, ids) = (counters.clone(), ids.clone());
        async move {
            counters
                .execute(Increment {
                    id: ids[i % ids.len()].clone(),
                })
                .await
                .expect("command");
        }
    })
    .await
}
