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
        }
    }

    /// A command issued in reaction to `event` (by a saga or process manager): it joins the
    /// event's correlation, or starts from the event id when the event has none.
    pub fn caused_by(event: &RecordedEvent) -> Self {
        Self {
            command_id: Uuid::now_v7(),
            correlation_id: event.metadata.correlation_id.unwrap_or(event.event_id),
            headers: event.metadata.headers.clone(),
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
