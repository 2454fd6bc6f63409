//! What the command pipeline hands back: a loaded aggregate, a committed command.

use crate::envelope::RecordedEvent;

/// An aggregate's state as loaded from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedAggregate<A> {
    /// The state after `version` events.
    pub state: A,
    /// The stream version the state includes (0 = the stream does not exist).
    pub version: u64,
    /// The snapshot version the load started from, if one was used.
    pub from_snapshot: Option<u64>,
}

/// What a successful command committed.
///
/// ```
/// # use cqrs_core::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
/// # enum CounterEvent { Incremented { by: u32 } }
/// # struct Increment { id: String, by: u32 }
/// # impl Command for Increment { fn aggregate_id(&self) -> &str { &self.id } }
/// # #[derive(Default)] struct Counter;
/// # impl Aggregate for Counter {
/// #     const TYPE: &'static str = "Counter";
/// #     type Command = Increment; type Event = CounterEvent; type Error = std::convert::Infallible; type Services = ();
/// #     async fn handle(&self, c: &Increment, _: &()) -> Result<Vec<CounterEvent>, Self::Error> {
/// #         Ok(vec![CounterEvent::Incremented { by: c.by }])
/// #     }
/// #     fn apply(&mut self, _: &CounterEvent) {}
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// # let counters = Repository::<Counter, _>::new(std::sync::Arc::new(InMemoryEventStore::new()));
/// let committed = counters.execute(Increment { id: "c1".into(), by: 2 }).await.unwrap();
/// // The events as the aggregate decided them, and where the store put them.
/// assert_eq!(committed.events, vec![CounterEvent::Incremented { by: 2 }]);
/// assert_eq!(committed.recorded[0].stream_version, 1);
/// assert_eq!(committed.last_position(), Some(1));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Committed<E> {
    /// The aggregate's stream.
    pub stream_id: String,
    /// The stream version after the command.
    pub version: u64,
    /// The events the command decided, in order (empty if it decided nothing).
    pub events: Vec<E>,
    /// The same events as stored, with their envelopes (ids, versions, positions,
    /// metadata): `recorded[i]` is `events[i]`.
    pub recorded: Vec<RecordedEvent>,
    /// Attempts it took (more than 1 after conflicts; 0 for a replay, which decided
    /// nothing).
    pub attempts: u32,
    /// True when this command id had been executed before and this is that execution's
    /// outcome: nothing was decided or written now
    /// ([`CommandContext::with_command_id`](crate::CommandContext::with_command_id)).
    pub replayed: bool,
}

impl<E> Committed<E> {
    /// True when the command decided no event (nothing was appended).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The global position of the last event appended, if any: what a reader waits for
    /// to see the command's effect.
    pub fn last_position(&self) -> Option<u64> {
        self.recorded.last().map(|e| e.position)
    }
}
