//! The command envelope: one command on its way to the aggregate that decides it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Command};
use crate::command::CommandContext;
use crate::event::JsonPayload;

/// A command addressed to one aggregate instance, as a bus carries it (serialized as JSON;
/// a Kafka bus keys the message by `aggregate_id`, so one aggregate's commands stay in
/// order).
///
/// The `command_id` makes the command idempotent: the processor runs it with
/// [`CommandContext::with_command_id`], so a redelivered or resent envelope has one effect
/// and gets the first execution's outcome again.
///
/// ```
/// use cqrs_core::{Aggregate, Command, CommandContext, CommandEnvelope};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize, cqrs_core::Event)] enum CounterEvent { Added { by: u32 } }
/// #[derive(Serialize, Deserialize)]
/// struct Add { id: String, by: u32 }
/// impl Command for Add { fn aggregate_id(&self) -> &str { &self.id } }
/// # #[derive(Default)] struct Counter;
/// # impl Aggregate for Counter {
/// #     const TYPE: &'static str = "Counter";
/// #     type Command = Add; type Event = CounterEvent; type Error = std::convert::Infallible; type Services = ();
/// #     async fn handle(&self, c: &Add, _: &()) -> Result<Vec<CounterEvent>, Self::Error> { Ok(vec![CounterEvent::Added { by: c.by }]) }
/// #     fn apply(&mut self, _: &CounterEvent) {}
/// # }
///
/// let context = CommandContext::new().with_header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// let envelope = CommandEnvelope::new::<Counter>(&Add { id: "c1".into(), by: 2 }, &context)
///     .unwrap()
///     .with_deadline(chrono::Utc::now() + chrono::Duration::seconds(30));
/// assert_eq!((envelope.aggregate_type.as_str(), envelope.aggregate_id.as_str()), ("Counter", "c1"));
/// assert_eq!((envelope.command_type.as_str(), envelope.command_version), ("Add", 1));
/// assert_eq!(envelope.command_id, context.command_id);
/// assert_eq!(envelope.payload.as_str(), r#"{"id":"c1","by":2}"#);
/// assert!(envelope.headers.contains_key("traceparent"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// The command's id: executing it again has no second effect.
    pub command_id: Uuid,
    /// The business transaction it belongs to; its events carry it.
    pub correlation_id: Uuid,
    /// What caused the command (an event, another command), if known. Informational: the
    /// events the command emits have the command id as their causation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The aggregate type ([`Aggregate::TYPE`]) the command is routed to.
    pub aggregate_type: String,
    /// The aggregate instance; must equal the decoded command's
    /// [`aggregate_id`](Command::aggregate_id).
    pub aggregate_id: String,
    /// The command's type name ([`Command::command_type`]); informational.
    pub command_type: String,
    /// Its schema version ([`Command::command_version`]).
    pub command_version: u32,
    /// The command, serialized as JSON.
    pub payload: JsonPayload,
    /// Where the reply goes (a Kafka topic), if the sender wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// After this instant the command is not executed any more
    /// ([`InvalidCommand::DeadlinePassed`](super::InvalidCommand::DeadlinePassed)), unless
    /// it already was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// Free-form headers (trace context such as `traceparent`, a user id...), copied onto
    /// the events the command emits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl CommandEnvelope {
    /// Serializes `command` for aggregate `A`, with the command id, correlation id and
    /// headers of `context`.
    pub fn new<A: Aggregate>(
        command: &A::Command,
        context: &CommandContext,
    ) -> Result<Self, serde_json::Error>
    where
        A::Command: Serialize,
    {
        Ok(Self {
            command_id: context.command_id,
            correlation_id: context.correlation_id,
            causation_id: None,
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: command.aggregate_id().to_owned(),
            command_type: command.command_type().to_owned(),
            command_version: command.command_version(),
            payload: JsonPayload::from_serialize(command)?,
            reply_to: None,
            deadline: None,
            headers: context.headers.clone(),
        })
    }

    /// Asks for the reply on `topic`.
    pub fn with_reply_to(mut self, topic: impl Into<String>) -> Self {
        self.reply_to = Some(topic.into());
        self
    }

    /// Gives up on the command if it is not executed by `at`.
    pub fn with_deadline(mut self, at: DateTime<Utc>) -> Self {
        self.deadline = Some(at);
        self
    }

    /// Records what caused the command.
    pub fn with_causation_id(mut self, causation_id: Uuid) -> Self {
        self.causation_id = Some(causation_id);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// True when the deadline is set and before `now`.
    pub fn deadline_passed(&self, now: DateTime<Utc>) -> bool {
        self.deadline.is_some_and(|deadline| deadline < now)
    }

    /// The context the command runs in: its id (checked for earlier executions), its
    /// correlation id and headers.
    pub fn context(&self) -> CommandContext {
        let mut context = CommandContext::new()
            .with_correlation_id(self.correlation_id)
            .with_command_id(self.command_id);
        context.headers = self.headers.clone();
        context
    }
}
