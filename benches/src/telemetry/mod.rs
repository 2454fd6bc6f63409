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
//! span to an OTLP/HTTP exporter (batch processor) that sends to a local sink. A first row
//! compares the switched-off state with rounds run before anything was installed, so that
//! the bias of that baseline is measured rather than assumed.

mod sink;
mod switch;

use std::sync::Arc;

use cqrs_core::{EventStore, InMemoryEventStore, Repository};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
use uuid::Uuid;

use crate::counter::{Counter, Increment};
use crate::postgres::concurrently;
use crate::table::{Row, Table};
use switch::{MetricsSwitch, TraceSwitch};

const GROUP: &str = "telemetry";
/// Alternating rounds of each setting; each figure is the median.
const ROUNDS: usize = 7;
const MEMORY_COMMANDS: usize = 200_000;
const PG_AGGREGATES: usize = 200;
const PG_COMMANDS: usize = 2_000;

pub async fn run(table: &mut Table, database_url: &str) {
    let id = Uuid::new_v4().simple().to_string();
    let schema = SchemaName::new(format!("bench_{}", &id[..12])).expect("schema name");
    let config = PgEventStoreConfig::new(schema.clone()).max_connections(8);
    let store = match PgEventStore::connect(database_url, config).await {
        Ok(store) => {
            store.migrate().await.expect("migrate");
            Some(Arc::new(store))
        }
        Err(error) => {
            eprintln!(
                "  telemetry: postgres rows skipped, cannot connect to {database_url}: {error}"
            );
            None
        }
    };
    let memory_round = || commands(Arc::new(InMemoryEventStore::new()), MEMORY_COMMANDS, 1_000);
    let memory = format!("in-memory commands ({MEMORY_COMMANDS}, full load, 8 tasks)");
    let postgres =
        format!("PostgreSQL commands ({PG_AGGREGATES} aggregates x 10, 8 tasks, Repository::new)");

    // Metrics, before any subscriber is installed. The switched-off recorder hands out
    // no-op handles, as the facade does without a recorder; the first row checks that
    // against rounds run before the recorder was installed.
    let mut pristine = Vec::new();
    for _ in 0..ROUNDS {
        pristine.push(memory_round().await);
    }
    let metrics = MetricsSwitch::install();
    let mut off = Vec::new();
    for _ in 0..ROUNDS {
        off.push(memory_round().await);
    }
    table.push(Row {
        group: GROUP,
        name: format!("{memory}, recorder installed but switched off"),
        value: median(off),
        unit: "commands/s",
        baseline: Some((
            "same commands, before the recorder was installed".into(),
            median(pristine),
        )),
        target: "~1.0x (the switch costs nothing)".into(),
    });
    let on_off = |on| metrics.set(on);
    let (with, without) = alternate(&on_off, memory_round).await;
    push_cost(
        table,
        format!("{memory}, Prometheus recorder + a scrape every second"),
        with,
        without,
        "no recorder",
        ">= 0.95x baseline",
    );
    if let Some(store) = &store {
        let pg_round = || commands(store.clone(), PG_COMMANDS, PG_AGGREGATES);
        let (with, without) = alternate(&on_off, pg_round).await;
        push_cost(
            table,
            format!("{postgres}, Prometheus recorder + a scrape every second"),
            with,
            without,
            "no recorder",
            ">= 0.95x baseline",
        );
    }

    // Traces (with the recorder on in both): a subscriber whose only layer exports every
    // span. Switched off, its filter refuses every span, which costs a call per span that
    // a process without a subscriber does not make: the ratio is the export's cost.
    metrics.set(true);
    let sink = sink::start().await;
    let traces = TraceSwitch::install(&sink.endpoint());
    let on_off = |on| {
        traces.set(on);
        if !on {
            traces.flush();
        }
    };
    let (with, without) = alternate(&on_off, memory_round).await;
    push_cost(
        table,
        format!("{memory}, + every span exported over OTLP"),
        with,
        without,
        "recorder, spans not exported",
        "reported (3 spans on a command of a few microseconds)",
    );
    if let Some(store) = &store {
        let pg_round = || commands(store.clone(), PG_COMMANDS, PG_AGGREGATES);
        let (with, without) = alternate(&on_off, pg_round).await;
        push_cost(
            table,
            format!("{postgres}, + every span exported over OTLP"),
            with,
            without,
            "recorder, spans not exported",
            "reported (exporter and sink share the 2 cores)",
        );
        let drop_schema = format!("DROP SCHEMA {} CASCADE", schema.quoted());
        if let Err(error) = cqrs_postgres::sqlx::query(&drop_schema)
            .execute(store.pool())
            .await
        {
            eprintln!("  telemetry: cannot drop {schema}: {error}");
        }
    }
    let received = sink.spans_received();
    eprintln!(
        "  telemetry: the sink received {} export requests, {} KiB",
        received.requests,
        received.bytes / 1024
    );
}

fn push_cost(
    table: &mut Table,
    name: String,
    with: f64,
    without: f64,
    baseline: &str,
    target: &str,
) {
    table.push(Row {
        group: GROUP,
        name,
        value: with,
        unit: "commands/s",
        baseline: Some((format!("same commands, {baseline}"), without)),
        target: target.into(),
    });
}

/// Median commands/s of `round` with `switch(true)` and with `switch(false)`, in
/// alternating rounds (off first).
async fn alternate<F, Fut>(switch: &dyn Fn(bool), round: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        switch(false);
        off.push(round().await);
        switch(true);
        on.push(round().await);
    }
    switch(false);
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
