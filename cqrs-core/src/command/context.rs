//! The context a command runs in: its id and the causality it passes to its events.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::envelope::{Metadata, RecordedEvent};

/// Identity and causality of one command execution.
///
/// The events a command emits get `correlation_id = context.correlation_id` and
/// `causation_id = context.command_id`, plus the context's headers.
///
/// ```
/// use cqrs_core::CommandContext;
/// let ctx = CommandContext::new().with_header("user", "ada");
/// let meta = ctx.event_metadata();
/// assert_eq!(meta.correlation_id, Some(ctx.correlation_id));
/// assert_eq!(meta.causation_id, Some(ctx.command_id));
/// assert_eq!(meta.headers["user"], "ada");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// This command's id.
    pub command_id: Uuid,
    /// The business transaction this command belongs to.
    pub correlation_id: Uuid,
    /// Headers copied onto every emitted event.
    pub headers: BTreeMap<String, String>,
    /// Whether the pipeline looks up what an earlier execution of this command id did
    /// before deciding (set by [`with_command_id`](Self::with_command_id) and
    /// [`caused_by_step`](Self::caused_by_step); a fresh id cannot have run before).
    pub check_repeats: bool,
}

impl Default for CommandContext {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandContext {
    /// A new command that starts its own correlation.
    pub fn new() -> Self {
        let command_id = Uuid::now_v7();
        Self {
            command_id,
            correlation_id: command_id,
            headers: BTreeMap::new(),
            check_repeats: false,
        }
    }

    /// Runs under `command_id`, given by the caller (an `Idempotency-Key`, a command-bus
    /// envelope): executing the same command id again has no second effect and returns the
    /// first execution's outcome, refusals included, on every store and across restarts.
    ///
    /// A command id names one command: running a different command under it returns the
    /// first one's outcome, and addressing it to another aggregate is
    /// [`CommandError::CommandIdReused`](crate::CommandError::CommandIdReused). A command
    /// that decided no event leaves nothing in the store: a repeat of its id decides again
    /// (on the current state), which is what an idempotent no-op needs, but not a record
    /// that it was a no-op.
    pub fn with_command_id(mut self, command_id: Uuid) -> Self {
        self.command_id = command_id;
        self.check_repeats = true;
        self
    }

    /// The command a saga or process manager issues at `step` in reaction to `event`
    /// ([`caused_by`](Self::caused_by)), with a command id derived from the event id and
    /// the step: a redelivered event issues the same command id again, which has no second
    /// effect.
    ///
    /// ```
    /// # use cqrs_core::*;
    /// # let event = RecordedEvent {
    /// #     event_id: uuid::Uuid::now_v7(), stream_id: "Order-1".into(), stream_version: 1,
    /// #     position: 1, recorded_at: chrono::Utc::now(), event_type: "Placed".into(),
    /// #     event_version: 1, payload: JsonPayload::parse("{}").unwrap(),
    /// #     metadata: Default::default(),
    /// # };
    /// let first = CommandContext::caused_by_step(&event, "reserve:sku-1");
    /// let redelivered = CommandContext::caused_by_step(&event, "reserve:sku-1");
    /// assert_eq!(first.command_id, redelivered.command_id);
    /// assert_ne!(first.command_id, CommandContext::caused_by_step(&event, "cancel").command_id);
    /// assert!(first.check_repeats);
    /// ```
    pub fn caused_by_step(event: &RecordedEvent, step: &str) -> Self {
        Self::caused_by(event).with_command_id(Uuid::new_v5(&event.event_id, step.as_bytes()))
    }

    /// A command issued in reaction to `event` (by a saga or process manager): it joins the
    /// event's correlation, or starts from the event id when the event has none.
    pub fn caused_by(event: &RecordedEvent) -> Self {
        Self {
            command_id: Uuid::now_v7(),
            correlation_id: event.metadata.correlation_id.unwrap_or(event.event_id),
            headers: event.metadata.headers.clone(),
            check_repeats: false,
        }
    }

    /// Sets the correlation id (e.g. from an incoming HTTP request).
    pub fn with_correlation_id(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// The metadata stored with the events this command emits.
    pub fn event_metadata(&self) -> Metadata {
        Metadata {
            correlation_id: Some(self.correlation_id),
            causation_id: Some(self.command_id),
            headers: self.headers.clone(),
        }
    }
}
