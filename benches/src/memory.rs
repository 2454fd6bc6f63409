//! In-memory store and command pipeline throughput, on one core.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cqrs_core::{
    Aggregate, Command, Event, EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload,
    Metadata, NewEvent, Repository,
};
use serde::{Deserialize, Serialize};

use crate::table::{Row, Table};

/// A counter: the smallest aggregate that still loads, decides and appends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counter {
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CounterEvent {
    Incremented { by: u64 },
}

impl Event for CounterEvent {
    const EVENT_TYPES: &'static [&'static str] = &["Incremented"];
    fn event_type(&self) -> &'static str {
        "Incremented"
    }
}

pub struct Increment {
    pub id: String,
}

impl Command for Increment {
    fn aggregate_id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

impl Aggregate for Counter {
    const TYPE: &'static str = "Counter";
    type Command = Increment;
    type Event = CounterEvent;
    type Error = Never;
    type Services = ();
    async fn handle(&self, _: &Increment, _: &()) -> Result<Vec<CounterEvent>, Never> {
        Ok(vec![CounterEvent::Incremented { by: 1 }])
    }
    fn apply(&mut self, event: &CounterEvent) {
        let CounterEvent::Incremented { by } = event;
        self.value += by;
    }
}

fn prepared(n: usize) -> Vec<NewEvent> {
    let payload = JsonPayload::parse(r#"{"Incremented":{"by":1}}"#).expect("json");
    (0..n)
        .map(|_| NewEvent::raw("Incremented", 1, payload.clone()))
        .collect()
}

const EVENTS: usize = 1_000_000;
const STREAMS: usize = 1_000;

pub async fn run(table: &mut Table) {
    // Baseline: the least a thread-safe append can do, a push under a mutex.
    let baseline = {
        let events = prepared(EVENTS);
        let log = Mutex::new(Vec::with_capacity(EVENTS));
        let started = Instant::now();
        for event in events {
            log.lock().expect("lock").push(event);
        }
        EVENTS as f64 / started.elapsed().as_secs_f64()
    };

    let single = {
        let store = InMemoryEventStore::new();
        let events = prepared(EVENTS);
        let streams: Vec<String> = (0..STREAMS).map(|i| format!("Counter-{i}")).collect();
        let meta = Metadata::default();
        let started = Instant::now();
        for (i, event) in events.into_iter().enumerate() {
            store
                .append(
                    &streams[i % STREAMS],
                    ExpectedVersion::Any,
                    vec![event],
                    &meta,
                )
                .await
                .expect("append");
        }
        EVENTS as f64 / started.elapsed().as_secs_f64()
    };
    table.push(Row {
        group: "in-memory",
        name: "append, 1 event per call, 1,000 streams (1 core)".into(),
        value: single,
        unit: "events/s",
        baseline: Some(("Mutex<Vec>::push of the same events".into(), baseline)),
        target: "> 1,000,000 events/s".into(),
    });

    let batched = {
        let store = InMemoryEventStore::new();
        let mut events = prepared(EVENTS).into_iter();
        let meta = Metadata::default();
        let started = Instant::now();
        for i in 0..EVENTS / 100 {
            let batch: Vec<_> = events.by_ref().take(100).collect();
            store
                .append(
                    &format!("Counter-{}", i % STREAMS),
                    ExpectedVersion::Any,
                    batch,
                    &meta,
                )
                .await
                .expect("append");
        }
        EVENTS as f64 / started.elapsed().as_secs_f64()
    };
    table.push(Row {
        group: "in-memory",
        name: "append, 100 events per call (1 core)".into(),
        value: batched,
        unit: "events/s",
        baseline: Some(("Mutex<Vec>::push of the same events".into(), baseline)),
        target: "> 1,000,000 events/s".into(),
    });

    // Commands: load + decide + append through the pipeline, 1,000 aggregates x 100.
    const COMMANDS: usize = 100_000;
    let raw_appends = {
        let store = InMemoryEventStore::new();
        let meta = Metadata::default();
        let streams: Vec<String> = (0..STREAMS).map(|i| format!("Counter-{i}")).collect();
        let payload = JsonPayload::parse(r#"{"Incremented":{"by":1}}"#).expect("json");
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
