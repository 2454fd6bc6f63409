//! Aggregates and the commands addressed to them.

use std::future::Future;

use crate::event::Event;

/// A command: a request to change one aggregate instance, addressed by its id.
pub trait Command: Send + Sync + 'static {
    /// The id of the aggregate instance this command is for.
    fn aggregate_id(&self) -> &str;

    /// The command's type name, sent in a command-bus envelope
    /// ([`CommandEnvelope::command_type`](crate::CommandEnvelope::command_type)) for logs,
    /// metrics and tracing. Default: the Rust type's name without its module path and
    /// generic arguments (`PlaceOrder` for `shop::PlaceOrder<T>`). Override it with a stable
    /// name (or one per enum variant) when other services read it.
    ///
    /// ```
    /// use cqrs_core::Command;
    /// struct PlaceOrder { id: String }
    /// impl Command for PlaceOrder { fn aggregate_id(&self) -> &str { &self.id } }
    /// assert_eq!(PlaceOrder { id: "o1".into() }.command_type(), "PlaceOrder");
    /// assert_eq!(PlaceOrder { id: "o1".into() }.command_version(), 1);
    /// ```
    fn command_type(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// The schema version of the command's serialized form (default 1). A command-bus
    /// processor refuses an envelope of a higher version than the one it decodes to, as
    /// [`InvalidCommand::UnsupportedCommandVersion`](crate::InvalidCommand::UnsupportedCommandVersion):
    /// a newer sender's fields would otherwise be dropped silently.
    fn command_version(&self) -> u32 {
        1
    }
}

/// `name` without its module path and generic arguments: `C` for `a::b::C<d::E>`.
fn short_type_name(name: &'static str) -> &'static str {
    let path = name.split('<').next().unwrap_or(name);
    path.rsplit("::").next().unwrap_or(path)
}

/// A consistency boundary: state rebuilt from its events, and the decisions made on it.
///
/// - `handle` is the decision function: given the current state and a command it returns
///   the events to record, or a domain error (a refusal). It never mutates state.
/// - `apply` is the evolution function: the state after one event. When a command emits
///   several events, each is applied to the state produced by the previous one.
/// - `Services` are injected dependencies the decision needs (a price lookup, a clock).
///   Aggregates without any use `()`, and the pipeline and test kit supply it for them.
///
/// ```
/// use cqrs_core::{Aggregate, Command, Event};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// enum CounterEvent { Incremented { by: u32 } }
/// impl Event for CounterEvent {
///     const EVENT_TYPES: &'static [&'static str] = &["Incremented"];
///     fn event_type(&self) -> &'static str { "Incremented" }
/// }
///
/// struct Increment { id: String, by: u32 }
/// impl Command for Increment {
///     fn aggregate_id(&self) -> &str { &self.id }
/// }
///
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// #[error("the counter would exceed 10")]
/// struct TooBig;
///
/// #[derive(Default)]
/// struct Counter { value: u32 }
///
/// impl Aggregate for Counter {
///     const TYPE: &'static str = "Counter";
///     type Command = Increment;
///     type Event = CounterEvent;
///     type Error = TooBig;
///     type Services = ();
///
///     async fn handle(&self, cmd: &Increment, _: &()) -> Result<Vec<CounterEvent>, TooBig> {
///         if self.value + cmd.by > 10 { return Err(TooBig); }
///         Ok(vec![CounterEvent::Incremented { by: cmd.by }])
///     }
///
///     fn apply(&mut self, event: &CounterEvent) {
///         match event { CounterEvent::Incremented { by } => self.value += by }
///     }
/// }
/// ```
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The aggregate type name; streams are named `{TYPE}-{id}`. Must not contain `-`.
    const TYPE: &'static str;

    /// Schema version of the serialized state, recorded in snapshots. Bump it when the
    /// state's shape changes: older snapshots are then ignored and replayed.
    const SNAPSHOT_VERSION: u32 = 1;

    /// The commands this aggregate handles.
    type Command: Command;
    /// The events it records.
    type Event: Event;
    /// Its domain error (a refused command).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Dependencies its decisions need; `()` for none.
    type Services: Send + Sync + 'static;

    /// Decides which events `command` produces in the current state.
    fn handle(
        &self,
        command: &Self::Command,
        services: &Self::Services,
    ) -> impl Future<Output = Result<Vec<Self::Event>, Self::Error>> + Send;

    /// Evolves the state by one event.
    fn apply(&mut self, event: &Self::Event);

    /// The stable, machine-readable code of a refusal (e.g. `out_of_stock`): recorded with
    /// a refused command so a repeat of its id reports it, and sent in command-bus replies.
    /// Default: `rejected` for every error.
    fn refusal_code(error: &Self::Error) -> std::borrow::Cow<'static, str> {
        let _ = error;
        std::borrow::Cow::Borrowed("rejected")
    }
}

/// The stream id of aggregate `A`'s instance `id`: `{A::TYPE}-{id}`.
///
/// ```
/// # use cqrs_core::*;
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)] struct E;
/// # impl Event for E { const EVENT_TYPES: &'static [&'static str] = &[]; fn event_type(&self) -> &'static str { "E" } }
/// # struct C; impl Command for C { fn aggregate_id(&self) -> &str { "" } }
/// # #[derive(Debug, thiserror::Error)] #[error("x")] struct X;
/// # #[derive(Default)] struct Order;
/// # impl Aggregate for Order { const TYPE: &'static str = "Order"; type Command = C; type Event = E; type Error = X; type Services = ();
/// #   async fn handle(&self, _: &C, _: &()) -> Result<Vec<E>, X> { Ok(vec![]) } fn apply(&mut self, _: &E) {} }
/// assert_eq!(stream_id::<Order>("42"), "Order-42");
/// ```
pub fn stream_id<A: Aggregate>(id: &str) -> String {
    format!("{}-{}", A::TYPE, id)
}
