//! The [`CommandRouter`]: envelopes routed by aggregate type to their repository.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::route::{RepositoryRoute, Route};
use super::{CommandEnvelope, CommandOutcome, InvalidCommand};
use crate::aggregate::Aggregate;
use crate::command::Repository;
use crate::store::EventStore;

/// Runs [`CommandEnvelope`]s through the [`Repository`] of their aggregate type: what a
/// command-bus processor (in process or over Kafka) calls for each command.
///
/// [`dispatch`](CommandRouter::dispatch) never fails: every problem is a typed
/// [`CommandOutcome`]. For an envelope it:
/// 1. finds the route of `aggregate_type` (else
///    [`Invalid`](CommandOutcome::Invalid) `unknown_aggregate_type`);
/// 2. decodes the payload as the aggregate's command (else `undecodable_payload`), checks
///    that it is addressed to the envelope's `aggregate_id` (else `aggregate_id_mismatch`)
///    and that its version is not newer than the command type's (else
///    `unsupported_command_version`);
/// 3. refuses a command whose deadline passed (`deadline_passed`) unless it ran before;
/// 4. executes it with [`Repository::execute_in`] in the envelope's context (its
///    correlation id and headers), under its command id
///    ([`CommandContext::with_command_id`](crate::CommandContext::with_command_id)): a
///    command id executed before reports the first execution's outcome, nothing is decided
///    or written again;
/// 5. maps the result: committed → [`Accepted`](CommandOutcome::Accepted) (`replayed` for a
///    repeat), a domain refusal, fresh or recorded →
///    [`Refused`](CommandOutcome::Refused) with [`Repository::refusal_of`]'s code and
///    message, the command id used for another aggregate → `Invalid`
///    `command_id_reused`, conflicts on every attempt → transient
///    [`Failed`](CommandOutcome::Failed), a store error → `Failed` with
///    [`StoreError::kind`](crate::StoreError::kind), anything else → permanent `Failed`.
///
/// ```
/// # use cqrs_core::*;
/// # use serde::{Deserialize, Serialize};
/// # use std::sync::Arc;
/// # #[derive(Debug, Clone, Serialize, Deserialize, Event)] enum CounterEvent { Added { by: u32 } }
/// # #[derive(Serialize, Deserialize)] struct Add { id: String, by: u32 }
/// # impl Command for Add { fn aggregate_id(&self) -> &str { &self.id } }
/// # #[derive(Default)] struct Counter;
/// # impl Aggregate for Counter {
/// #     const TYPE: &'static str = "Counter";
/// #     type Command = Add; type Event = CounterEvent; type Error = std::convert::Infallible; type Services = ();
/// #     async fn handle(&self, c: &Add, _: &()) -> Result<Vec<CounterEvent>, Self::Error> { Ok(vec![CounterEvent::Added { by: c.by }]) }
/// #     fn apply(&mut self, _: &CounterEvent) {}
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = Arc::new(InMemoryEventStore::new());
/// let router = CommandRouter::new().route(Repository::<Counter, _>::new(store));
///
/// let envelope = CommandEnvelope::new::<Counter>(&Add { id: "c1".into(), by: 2 }, &CommandContext::new()).unwrap();
/// let outcome = router.dispatch(&envelope).await;
/// assert!(matches!(outcome, CommandOutcome::Accepted { version: 1, replayed: false, .. }));
/// // The same envelope again: the first outcome, nothing appended.
/// let again = router.dispatch(&envelope).await;
/// assert!(matches!(again, CommandOutcome::Accepted { version: 1, replayed: true, .. }));
/// # });
/// ```
#[derive(Clone, Default)]
pub struct CommandRouter {
    routes: BTreeMap<String, Arc<dyn Route>>,
}

impl CommandRouter {
    /// A router without routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes envelopes whose `aggregate_type` is `A::TYPE` to `repository`.
    ///
    /// # Panics
    /// When `A::TYPE` already has a route: two repositories for one aggregate type is a
    /// setup mistake, found at startup.
    pub fn route<A, S>(mut self, repository: Repository<A, S>) -> Self
    where
        A: Aggregate,
        A::Command: DeserializeOwned,
        S: EventStore + ?Sized,
    {
        let route: Arc<dyn Route> = Arc::new(RepositoryRoute { repository });
        if self.routes.insert(A::TYPE.to_owned(), route).is_some() {
            panic!(
                "CommandRouter: aggregate type `{}` is routed twice",
                A::TYPE
            );
        }
        self
    }

    /// The aggregate types routed, in name order.
    pub fn aggregate_types(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// True when `aggregate_type` has a route.
    pub fn routes(&self, aggregate_type: &str) -> bool {
        self.routes.contains_key(aggregate_type)
    }

    /// Runs `envelope` (see the steps above) and reports what became of it.
    pub async fn dispatch(&self, envelope: &CommandEnvelope) -> CommandOutcome {
        let Some(route) = self.routes.get(&envelope.aggregate_type) else {
            return CommandOutcome::invalid(
                InvalidCommand::UnknownAggregateType,
                format!(
                    "command {} (`{}`): no route for aggregate type `{}` (routed: {:?})",
                    envelope.command_id,
                    envelope.command_type,
                    envelope.aggregate_type,
                    self.routes.keys().collect::<Vec<_>>()
                ),
            );
        };
        route.dispatch(envelope).await
    }
}

impl fmt::Debug for CommandRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandRouter")
            .field("aggregate_types", &self.routes.keys().collect::<Vec<_>>())
            .finish()
    }
}
