//! In-memory store and command pipeline throughput, on one core.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, Repository,
};

use crate::counter::{increments, Counter, Increment, INCREMENT_JSON};
use crate::table::{Row, Table};

const EVENTS: usize = 1_000_000;
const STREAMS: usize = 1_000;

pub async fn run(table: &mut Table) {
    // Baseline: the least a thread-safe append can do, a push under a mutex.
    let baseline = {
        let events = increments(EVENTS);
        let log = Mutex::new(Vec::with_capacity(EVENTS));
        let started = Instant::now();
        for event in events {
            log.lock().expect("lock").push(event);
        }
        EVENTS as f64 / started.elapsed().as_secs_f64()
    };

    let streams: Vec<String> = (0..STREAMS).map(|i| format!("Counter-{i}")).collect();
    for (per_call, name) in [
        (1, "append, 1 event per call, 1,000 streams (1 core)"),
        (100, "append, 100 events per call (1 core)"),
    ] {
        let store = InMemoryEventStore::new();
        let mut events = increments(EVENTS).into_iter();
        let meta = Metadata::default();
        let started = Instant::now();
        for i in 0..EVENTS / per_call {
            let batch: Vec<_> = events.by_ref().take(per_call).collect();
            store
                .append(&streams[i % STREAMS], ExpectedVersion::Any, batch, &meta)
                .await
                .expect("append");
        }
        table.push(Row {
            group: "in-memory",
            name: name.into(),
            value: EVENTS as f64 / started.elapsed().as_secs_f64(),
            unit: "events/s",
            baseline: Some(("Mutex<Vec>::push of the same events".into(), baseline)),
            target: "> 1,000,000 events/s".into(),
        });
    }

    // Commands: load + decide + append through the pipeline, 1,000 aggregates x 100.
    const COMMANDS: usize = 100_000;
    let raw_appends = {
        let store = InMemoryEventStore::new();
        let meta = Metadata::default();
        let payload = JsonPayload::parse(INCREMENT_JSON).expect("json");
        let started = Instant::now();
        for i in 0..COMMANDS {
            let stream = &streams[i % STREAMS];
            let version = (i / STREAMS) as u64;
            let event = NewEvent::raw("Incremented", 1, payload.clone());
            store
                .append(
                    stream,
                    ExpectedVersion::from_loaded(version),
                    vec![event],
                    &meta,
                )
                .await
                .expect("append");
        }
        COMMANDS as f64 / started.elapsed().as_secs_f64()
    };
    for (name, cached) in [
        ("commands, full load each time", false),
        ("commands, with state cache", true),
    ] {
        let store = Arc::new(InMemoryEventStore::new());
        let mut counters = Repository::<Counter, _>::new(store);
        if cached {
            counters = counters.with_cache(10_000);
        }
        let ids: Vec<String> = (0..STREAMS).map(|i| i.to_string()).collect();
        let started = Instant::now();
        for i in 0..COMMANDS {
            counters
                .execute(Increment {
                    id: ids[i % STREAMS].clone(),
                })
                .await
                .expect("command");
        }
        let rate = COMMANDS as f64 / started.elapsed().as_secs_f64();
        table.push(Row {
            group: "in-memory",
            name: format!("{name}, 1,000 aggregates x 100 (1 core)"),
            value: rate,
            unit: "commands/s",
            baseline: Some((
                "raw append with a known version, no load/decide".into(),
                raw_appends,
            )),
            target: "-".into(),
        });
    }
}
