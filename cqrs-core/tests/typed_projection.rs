//! Typed projections get their aggregate's events decoded; `Deduplicated` sees each event
//! once under redelivery, whatever order the streams interleave in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::projection::Deduplicated;
use cqrs_core::{
    Aggregate, Command, Event, EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload,
    Metadata, NewEvent, Persistence, Projection, ProjectionRunner, RecordedEvent, RetryPolicy,
    RunnerConfig, RunnerError, TypedProjection, Upcasters,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
enum MeterEvent {
    #[event(version = 2)]
    Read { kwh: u64 },
}

struct Reset {
    id: String,
}
impl Command for Reset {
    fn aggregate_id(&self) -> &str {
        &self.id
    }
}

#[derive(Default)]
struct Meter;
impl Aggregate for Meter {
    const TYPE: &'static str = "Meter";
    type Command = Reset;
    type Event = MeterEvent;
    type Error = std::convert::Infallible;
    type Services = ();
    async fn handle(&self, _: &Reset, _: &()) -> Result<Vec<MeterEvent>, Self::Error> {
        Ok(vec![])
    }
    fn apply(&mut self, _: &MeterEvent) {}
}

/// Readings per meter id; v1 payloads stored watt-hours as `wh`.
#[derive(Clone)]
struct Readings {
    seen: Arc<Mutex<Vec<(String, u64)>>>,
    upcasters: Upcasters,
}

impl Readings {
    fn new() -> Self {
        Self {
            seen: Arc::default(),
            upcasters: Upcasters::new().register("Read", 1, |mut v| {
                let wh = v["wh"].as_u64().ok_or("no wh")?;
                v["kwh"] = (wh / 1000).into();
                Ok(v)
            }),
        }
    }
}

#[async_trait]
impl TypedProjection for Readings {
    type Aggregate = Meter;
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "readings"
    }
    fn persistence(&self) -> Persistence {
        Persistence::InMemory
    }
    async fn apply(
        &mut self,
        event: &MeterEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), Self::Error> {
        let MeterEvent::Read { kwh } = event;
        self.seen
            .lock()
            .unwrap()
            .push((envelope.aggregate_id().to_owned(), *kwh));
        Ok(())
    }
    fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }
}

async fn append(
    store: &InMemoryEventStore,
    stream: &str,
    event_type: &str,
    version: u32,
    json: &str,
) {
    let event = NewEvent::raw(event_type, version, JsonPayload::parse(json).unwrap());
    store
        .append(
            stream,
            ExpectedVersion::Any,
            vec![event],
            &Metadata::default(),
        )
        .await
        .unwrap();
}

fn quick() -> RunnerConfig {
    RunnerConfig {
        batch_size: 10,
        idle_poll: Duration::from_secs(60),
        retry: RetryPolicy::attempts(2)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(2)),
    }
}

#[tokio::test]
async fn a_typed_projection_gets_only_its_aggregates_events_decoded_and_upcast() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, "Meter-a", "Read", 2, r#"{"kwh": 3}"#).await;
    append(&store, "Invoice-1", "Issued", 1, r#"{"anything": true}"#).await;
    append(&store, "Meter-b", "Read", 1, r#"{"wh": 7000}"#).await;
    let readings = Readings::new();
    let mut runner = ProjectionRunner::new(store, readings.clone()).with_config(quick());
    assert_eq!(runner.catch_up().await.unwrap(), 3);
    assert_eq!(
        *readings.seen.lock().unwrap(),
        [("a".to_owned(), 3), ("b".to_owned(), 7)]
    );
}

#[tokio::test]
async fn an_undecodable_event_of_its_aggregate_stops_the_runner_at_that_position() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, "Meter-a", "Read", 2, r#"{"kwh": 3}"#).await;
    append(&store, "Meter-a", "Read", 2, r#"{"kwh": "three"}"#).await;
    let readings = Readings::new();
    let mut runner = ProjectionRunner::new(store, readings.clone()).with_config(quick());
    match runner.catch_up().await {
        Err(RunnerError::Projection {
            position,
            attempts,
            source,
            ..
        }) => {
            assert_eq!((position, attempts), (2, 2));
            assert!(source.to_string().contains("stream `Meter-a`"), "{source}");
        }
        other => panic!("expected a projection error, got {:?}", other.map(|_| ())),
    }
    assert_eq!(readings.seen.lock().unwrap().len(), 1);
}

/// Counts applications per (stream, version).
#[derive(Default)]
struct Applied(Vec<(String, u64)>);

#[async_trait]
impl Projection for Applied {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "applied"
    }
    fn persistence(&self) -> Persistence {
        Persistence::InMemory
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        self.0
            .push((event.stream_id.to_string(), event.stream_version));
        Ok(())
    }
}

#[tokio::test]
async fn deduplicated_sees_each_event_once_under_redelivery_in_any_stream_interleaving() {
    let store = InMemoryEventStore::new();
    for (stream, n) in [("Meter-a", 3), ("Meter-b", 2)] {
        for kwh in 0..n {
            append(&store, stream, "Read", 2, &format!(r#"{{"kwh": {kwh}}}"#)).await;
        }
    }
    let log = store.read_all(1, 100).await.unwrap();
    let (a, b): (Vec<_>, Vec<_>) = log.iter().partition(|e| &*e.stream_id == "Meter-a");
    let mut projection = Deduplicated::new(Applied::default());
    // Kafka-like: partition of stream b first, then a, then both again (redelivery after a
    // rebalance), then the log order (a log-fed restart).
    for event in b.iter().chain(&a).chain(&a).chain(&b).copied().chain(&log) {
        projection.apply(event).await.unwrap();
    }
    let mut applied = projection.into_inner().0;
    applied.sort();
    let expected = [
        ("Meter-a", 1),
        ("Meter-a", 2),
        ("Meter-a", 3),
        ("Meter-b", 1),
        ("Meter-b", 2),
    ];
    assert_eq!(applied, expected.map(|(s, v)| (s.to_owned(), v)));
}
