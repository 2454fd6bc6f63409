//! The in-process bus: the same dispatch as a broker's processor, without the broker.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::Instrument;

use super::{CommandBus, CommandEnvelope, CommandOutcome, CommandReply, CommandRouter, SendError};
use crate::command::RetryPolicy;
use crate::failure::FailureKind;

/// A [`CommandBus`] that runs each command through a [`CommandRouter`] in this process:
/// embedded mode, with the code path of a Kafka processor (same envelopes, same
/// [`CommandRouter::dispatch`], same outcomes).
///
/// - **Own task**: each command runs in a task of its own. When `timeout` passes, `send`
///   returns [`SendError::Timeout`] but the command is **not** cancelled: it runs to the
///   end (as on a processor), and sending the same envelope again reports its outcome.
/// - **Transient failures** (store unavailable) are retried with backoff while the
///   timeout allows, as a processor retries them; when the next retry would end after
///   the timeout, the transient [`Failed`](CommandOutcome::Failed) reply is returned.
/// - **Panics** of the aggregate are a permanent `Failed` reply.
///
/// ```
/// # use cqrs_core::*;
/// # use serde::{Deserialize, Serialize};
/// # use std::{sync::Arc, time::Duration};
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
/// let bus = InProcessBus::new(CommandRouter::new().route(Repository::<Counter, _>::new(store)));
/// let envelope = CommandEnvelope::new::<Counter>(&Add { id: "c1".into(), by: 2 }, &CommandContext::new()).unwrap();
/// let reply = bus.send(envelope, Duration::from_secs(5)).await.unwrap();
/// assert!(matches!(reply.outcome, CommandOutcome::Accepted { version: 1, position: Some(1), .. }));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct InProcessBus {
    router: Arc<CommandRouter>,
    transient_backoff: RetryPolicy,
}

impl InProcessBus {
    /// A bus running commands through `router`; transient failures are retried with
    /// [`RetryPolicy::between`] 10 ms and 1 s.
    pub fn new(router: CommandRouter) -> Self {
        Self {
            router: Arc::new(router),
            transient_backoff: RetryPolicy::between(
                Duration::from_millis(10),
                Duration::from_secs(1),
            ),
        }
    }

    /// Retries transient failures with this backoff (only its delays are used; retries
    /// last while the send's timeout allows).
    pub fn with_transient_backoff(mut self, backoff: RetryPolicy) -> Self {
        self.transient_backoff = backoff;
        self
    }

    /// The router.
    pub fn router(&self) -> &CommandRouter {
        &self.router
    }
}

#[async_trait]
impl CommandBus for InProcessBus {
    async fn send(
        &self,
        envelope: CommandEnvelope,
        timeout: Duration,
    ) -> Result<CommandReply, SendError> {
        let (command_id, correlation_id) = (envelope.command_id, envelope.correlation_id);
        let give_up_at = Instant::now() + timeout;
        let (router, backoff) = (self.router.clone(), self.transient_backoff);
        let task = tokio::spawn(async move {
            let mut failures = 0;
            loop {
                let outcome = router.dispatch(&envelope).await;
                if !outcome.is_transient() {
                    return CommandReply::to(&envelope, outcome);
                }
                failures += 1;
                let retry_at = Instant::now() + backoff.backoff(failures);
                if retry_at >= give_up_at {
                    return CommandReply::to(&envelope, outcome);
                }
                tracing::debug!(command_id = %envelope.command_id, %outcome, "retrying a transient failure");
                tokio::time::sleep_until(retry_at).await;
            }
        }
        // The command runs as a child of the sender's span, as over a real bus.
        .instrument(tracing::Span::current()));
        match tokio::time::timeout_at(give_up_at, task).await {
            Ok(Ok(reply)) => Ok(reply),
            // A panic is the command's own doing (permanent); a task cancelled because the
            // runtime shuts down may pass on another run (transient).
            Ok(Err(ended)) => Ok(CommandReply {
                command_id,
                correlation_id,
                outcome: CommandOutcome::Failed {
                    kind: if ended.is_panic() {
                        FailureKind::Permanent
                    } else {
                        FailureKind::Transient
                    },
                    message: format!("command {command_id}: its execution ended early: {ended}"),
                },
            }),
            Err(_) => Err(SendError::Timeout {
                command_id,
                waited: timeout,
            }),
        }
    }
}
