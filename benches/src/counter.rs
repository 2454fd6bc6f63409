//! The benchmark aggregate every store group uses: a counter, the smallest aggregate that
//! still loads, decides and appends.

use cqrs_core::{Aggregate, Command, Event, JsonPayload, NewEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counter {
    pub value: u64,
}

impl Counter {
    /// The decision every system in the harness runs for an [`Increment`] (cqrs-rs and the
    /// peers alike): one `Incremented { by: 1 }`.
    pub fn decide(&self) -> CounterEvent {
        CounterEvent::Incremented { by: 1 }
    }

    /// The state change every system applies for an event.
    pub fn add(&mut self, event: &CounterEvent) {
        let CounterEvent::Incremented { by } = event;
        self.value += by;
    }
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
        Ok(vec![self.decide()])
    }
    fn apply(&mut self, event: &CounterEvent) {
        self.add(event);
    }
}

/// The stored JSON of one `Incremented { by: 1 }`, as the raw-driver baselines write it.
pub const INCREMENT_JSON: &str = r#"{"Incremented":{"by":1}}"#;

/// `n` ready-made `Incremented { by: 1 }` events sharing one payload.
pub fn increments(n: usize) -> Vec<NewEvent> {
    let payload = JsonPayload::parse(INCREMENT_JSON).expect("json");
    (0..n)
        .map(|_| NewEvent::raw("Incremented", 1, payload.clone()))
        .collect()
}
