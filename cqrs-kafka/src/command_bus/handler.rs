//! What the command processor does with each consumed command, on the consumer runner's
//! loop (batches of one): dispatch, reply, and only then let the runner mark the offset.
//!
//! 1. An envelope is dispatched through the [`CommandRouter`]; a message that is no
//!    envelope but names its command and reply topic gets `Invalid` /
//!    `undecodable_envelope` without dispatch.
//! 2. A **transient** failure (store unavailable) is a transient handler error: the runner
//!    hands the same command again with backoff, forever, and nothing after it on the
//!    partition is consumed meanwhile. It is never replied.
//! 3. Any other outcome is published to the envelope's `reply_to` (if any), and the
//!    broker's acknowledgement awaited. A reply that cannot be published *now* is a
//!    transient handler error too; the outcome is kept, so the retry sends the same reply
//!    instead of deciding (or replaying) again. A reply refused for good (reply topic
//!    missing, too large) dead-letters the command with that reason.
//! 4. `Invalid` and permanent `Failed` outcomes are then rejected: the runner
//!    dead-letters the command (stage `handler`) before marking its offset.
//! 5. `Ok`: the runner marks the offset for commit, after the reply is acknowledged.
//!
//! All of it runs in the command's `command process` span (see [`trace`](super::trace)):
//! the dispatch's own task too, so the pipeline's `command` span is its child, and the
//! reply carries its trace context.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_core::{
    CommandEnvelope, CommandOutcome, CommandReply, CommandRouter, FailureKind, InvalidCommand,
};
use tracing::{Instrument, Span};

use super::message::{CommandMessage, ReplyAddress};
use super::producer::Producer;
use super::reply;
use crate::consumer::Described;
use crate::{classify, trace_headers, Batch, BatchHandler, HandlerError, MessageSource};

/// Runs consumed commands and publishes their replies.
pub(crate) struct CommandHandler {
    pub(crate) router: Arc<CommandRouter>,
    pub(crate) replies: Producer,
    /// See [`ProcessorConfig::reply_topic_suffix`](super::ProcessorConfig::reply_topic_suffix).
    pub(crate) reply_topic_suffix: String,
    /// The outcome of the command whose reply could not be published yet, by its
    /// position: its retry publishes this instead of dispatching again.
    pub(crate) retained: Option<(Position, CommandOutcome)>,
}

/// A message's topic, partition and offset.
pub(crate) type Position = (String, i32, i64);

fn position(source: &MessageSource<'_>) -> Position {
    (source.topic.to_owned(), source.partition, source.offset)
}

#[async_trait]
impl BatchHandler<CommandMessage> for CommandHandler {
    async fn handle_batch(
        &mut self,
        batch: &mut Batch<'_, CommandMessage>,
    ) -> Result<(), HandlerError> {
        let mut poison = Vec::new();
        for item in batch.iter() {
            if let Some(reason) = self.handle(item.event(), &item.source()).await? {
                poison.push((item.index(), reason));
            }
        }
        for (index, reason) in poison {
            batch.reject(index, reason);
        }
        Ok(())
    }
}

impl CommandHandler {
    /// Runs `envelope` through the router in a task of its own: a command whose aggregate
    /// panics gets a permanent `Failed` outcome (replied, then dead-lettered) instead of
    /// stopping the processor, which would meet the same command again after a restart.
    /// The task runs in the current span (the command's `command process`).
    async fn dispatch(&self, envelope: &CommandEnvelope) -> CommandOutcome {
        let (router, owned) = (self.router.clone(), envelope.clone());
        let dispatched = async move { router.dispatch(&owned).await }.instrument(Span::current());
        match tokio::spawn(dispatched).await {
            Ok(outcome) => outcome,
            Err(ended) => CommandOutcome::Failed {
                kind: if ended.is_panic() {
                    FailureKind::Permanent
                } else {
                    FailureKind::Transient
                },
                message: format!(
                    "command {}: its execution ended early: {ended}",
                    envelope.command_id
                ),
            },
        }
    }

    /// Runs and answers one command; `Some(reason)` when it is to be dead-lettered.
    async fn handle(
        &mut self,
        message: &CommandMessage,
        source: &MessageSource<'_>,
    ) -> Result<Option<String>, HandlerError> {
        let at = position(source);
        if let Some(address) = message.reply_address() {
            if !address.reply_to.ends_with(&self.reply_topic_suffix) {
                return Ok(Some(format!(
                    "{}: its reply-to `{}` is not a reply topic (the name must end with `{}`); not run",
                    message.described(),
                    address.reply_to,
                    self.reply_topic_suffix
                )));
            }
        }
        let outcome = match (self.retained.take(), message) {
            (Some((retained_at, outcome)), _) if retained_at == at => outcome,
            (_, CommandMessage::Envelope(envelope)) => self.dispatch(envelope).await,
            (_, CommandMessage::Undecodable { reason, .. }) => CommandOutcome::Invalid {
                code: InvalidCommand::UndecodableEnvelope,
                message: reason.clone(),
            },
        };
        if outcome.is_transient() {
            return Err(HandlerError::transient(format!(
                "{}: {outcome}",
                message.described()
            )));
        }
        tracing::debug!(at = %source, command = %message.described(), %outcome, "command done");
        if let Some(address) = message.reply_address() {
            if let Err(refused) = self.reply(&address, &outcome).await {
                return match refused {
                    ReplyFailure::Transient(error) => {
                        self.retained = Some((at, outcome));
                        Err(HandlerError::transient(error))
                    }
                    ReplyFailure::Permanent(error) => Ok(Some(format!(
                        "{} ({outcome}): {error}",
                        message.described()
                    ))),
                };
            }
        }
        Ok(outcome
            .is_poison()
            .then(|| format!("{}: {outcome}", message.described())))
    }

    /// Publishes the reply, with the current span's trace context, and waits for the
    /// broker's acknowledgement.
    async fn reply(
        &self,
        address: &ReplyAddress,
        outcome: &CommandOutcome,
    ) -> Result<(), ReplyFailure> {
        let reply = CommandReply {
            command_id: address.command_id,
            correlation_id: address.correlation_id,
            outcome: outcome.clone(),
        };
        let (value, mut headers) = reply::encode(&reply).map_err(|error| {
            ReplyFailure::Permanent(format!("cannot encode its reply: {error}"))
        })?;
        trace_headers::inject(&Span::current(), &mut headers);
        let key = address.command_id.to_string();
        let sent = self
            .replies
            .send(&address.reply_to, &key, &value, headers)
            .await;
        sent.map_err(|error| {
            let why = format!("its reply to `{}` failed: {error}", address.reply_to);
            match classify(&error) {
                FailureKind::Transient => ReplyFailure::Transient(why),
                FailureKind::Permanent => ReplyFailure::Permanent(why),
            }
        })
    }
}

enum ReplyFailure {
    Transient(String),
    Permanent(String),
}
