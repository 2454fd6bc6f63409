//! Given/when/then tests for aggregates, without a store.
//!
//! ```
//! # use cqrs_core::*;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! # enum CounterEvent { Incremented { by: u32 } }
//! # impl Event for CounterEvent {
//! #     const EVENT_TYPES: &'static [&'static str] = &["Incremented"];
//! #     fn event_type(&self) -> &'static str { "Incremented" }
//! # }
//! # struct Increment { id: String, by: u32 }
//! # impl Command for Increment { fn aggregate_id(&self) -> &str { &self.id } }
//! # #[derive(Debug, PartialEq, thiserror::Error)] #[error("too big")] struct TooBig;
//! # #[derive(Default)] struct Counter { value: u32 }
//! # impl Aggregate for Counter {
//! #     const TYPE: &'static str = "Counter";
//! #     type Command = Increment; type Event = CounterEvent; type Error = TooBig; type Services = ();
//! #     async fn handle(&self, c: &Increment, _: &()) -> Result<Vec<CounterEvent>, TooBig> {
//! #         if self.value + c.by > 10 { Err(TooBig) } else { Ok(vec![CounterEvent::Incremented { by: c.by }]) }
//! #     }
//! #     fn apply(&mut self, e: &CounterEvent) { let CounterEvent::Incremented { by } = e; self.value += by; }
//! # }
//! use cqrs_core::testing::given;
//!
//! given::<Counter>([CounterEvent::Incremented { by: 4 }])
//!     .when(Increment { id: "c".into(), by: 6 })
//!     .then_events([CounterEvent::Incremented { by: 6 }]);
//!
//! given::<Counter>([CounterEvent::Incremented { by: 4 }])
//!     .when(Increment { id: "c".into(), by: 7 })
//!     .then_error(TooBig);
//! ```
//!
//! Every event, given or produced, goes through its stored form first: it is encoded as a
//! store would keep it ([`NewEvent::from_event`](crate::NewEvent::from_event)), decoded back
//! ([`Upcasters::decode_parts`](crate::Upcasters::decode_parts)), and the decoded event is
//! what the aggregate applies and what is compared. A type name missing from
//! `EVENT_TYPES`, a serde attribute that loses a field, or a payload that decodes into
//! another variant fails the unit test instead of the first load in production.
//!
//! Decisions run on a minimal executor, so services used in tests must not need a tokio
//! reactor (use in-memory fakes of your services, or drive [`Repository`](crate::Repository)
//! on the in-memory store in a `#[tokio::test]`).

use crate::aggregate::Aggregate;
use crate::event::{Event, NewEvent};
use crate::upcast::Upcasters;

/// The history of an aggregate under test.
pub struct Given<A: Aggregate> {
    state: A,
    services: A::Services,
}

/// Starts a test from `events` (applied in order to `A::default()`), with default services.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A>
where
    A::Services: Default,
{
    given_with_services(A::Services::default(), events)
}

/// Starts a test for an aggregate that needs `services`.
pub fn given_with_services<A: Aggregate>(
    services: A::Services,
    events: impl IntoIterator<Item = A::Event>,
) -> Given<A> {
    let mut state = A::default();
    for event in events {
        state.apply(&through_stored_form(&event));
    }
    Given { state, services }
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` on the given state.
    pub fn when(self, command: A::Command) -> Then<A> {
        let result = futures::executor::block_on(self.state.handle(&command, &self.services))
            .map(|events| events.iter().map(through_stored_form).collect());
        Then {
            state: self.state,
            result,
        }
    }
}

/// The outcome of a decision under test.
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A> {
    /// Asserts the command produced exactly `expected`, in order.
    ///
    /// # Panics
    /// With expected and actual events when they differ, or with the error if it failed.
    #[track_caller]
    pub fn then_events(self, expected: impl IntoIterator<Item = A::Event>) -> A
    where
        A::Event: PartialEq,
    {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        let Then { state, result } = self;
        match result {
            Ok(actual) if actual == expected => apply_all(state, &actual),
            Ok(actual) => panic!(
                "{} produced other events than expected\n  expected: {expected:#?}\n  actual:   {actual:#?}",
                A::TYPE
            ),
            Err(error) => panic!(
                "{} refused the command, but events were expected\n  expected: {expected:#?}\n  error:    {error:?} ({error})",
                A::TYPE
            ),
        }
    }

    /// Asserts the command was refused with `expected`.
    ///
    /// # Panics
    /// With both errors when they differ, or with the events if it succeeded.
    #[track_caller]
    pub fn then_error(self, expected: A::Error)
    where
        A::Error: PartialEq,
    {
        match self.result {
            Err(actual) if actual == expected => {}
            Err(actual) => panic!(
                "{} refused the command with another error\n  expected: {expected:?} ({expected})\n  actual:   {actual:?} ({actual})",
                A::TYPE
            ),
            Ok(events) => panic!(
                "{} accepted the command, but an error was expected\n  expected: {expected:?} ({expected})\n  events:   {events:#?}",
                A::TYPE
            ),
        }
    }

    /// Asserts the command was refused with an error matching `check`.
    #[track_caller]
    pub fn then_error_matches(self, description: &str, check: impl FnOnce(&A::Error) -> bool) {
        match self.result {
            Err(actual) if check(&actual) => {}
            Err(actual) => panic!(
                "{} refused the command, but not with {description}\n  actual: {actual:?} ({actual})",
                A::TYPE
            ),
            Ok(events) => panic!(
                "{} accepted the command, but {description} was expected\n  events: {events:#?}",
                A::TYPE
            ),
        }
    }

    /// The raw outcome, for custom assertions.
    pub fn outcome(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }
}

/// `event` encoded as a store keeps it and decoded back.
///
/// # Panics
/// When the event cannot be encoded or decoded, or decodes into something that encodes
/// differently.
#[track_caller]
pub fn through_stored_form<E: Event>(event: &E) -> E {
    let stored = NewEvent::from_event(event)
        .unwrap_or_else(|error| panic!("cannot encode {event:?} as stored: {error}"));
    let decoded: E = Upcasters::new()
        .decode_parts(
            "test-kit",
            1,
            &stored.event_type,
            stored.event_version,
            stored.payload.as_str(),
        )
        .unwrap_or_else(|error| {
            panic!(
                "{event:?} is stored as `{}` v{} {} but does not decode again: {error}",
                stored.event_type, stored.event_version, stored.payload
            )
        });
    let again = NewEvent::from_event(&decoded)
        .unwrap_or_else(|error| panic!("cannot encode decoded {decoded:?}: {error}"));
    assert!(
        again.event_type == stored.event_type && again.payload == stored.payload,
        "{event:?} does not survive its stored form: stored as `{}` {}, decoded as {decoded:?}, stored again as `{}` {}",
        stored.event_type,
        stored.payload,
        again.event_type,
        again.payload
    );
    decoded
}

fn apply_all<A: Aggregate>(mut state: A, events: &[A::Event]) -> A {
    for event in events {
        state.apply(event);
    }
    state
}
