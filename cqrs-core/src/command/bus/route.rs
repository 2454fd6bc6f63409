//! One route of a [`CommandRouter`](super::CommandRouter): an envelope for aggregate `A`
//! decoded, checked and run through its [`Repository`], the result mapped to a
//! [`CommandOutcome`].
//!
//! The steps, in order:
//! 1. decode the payload as `A::Command` (else `undecodable_payload`);
//! 2. the envelope's aggregate id must be the command's (else `aggregate_id_mismatch`);
//! 3. its command version must not be newer than the command's (else
//!    `unsupported_command_version`);
//! 4. a passed deadline stops a command that never ran (`deadline_passed`); one that ran
//!    before is executed anyway, which reports its first outcome without deciding again;
//! 5. execute it in the envelope's context, under its command id;
//! 6. map: committed → `Accepted`, a refusal (fresh or recorded) → `Refused`, a command id
//!    used for another aggregate → `Invalid`, everything else → `Failed` with its kind.

use chrono::Utc;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::{CommandEnvelope, CommandOutcome, InvalidCommand};
use crate::aggregate::{stream_id, Aggregate, Command};
use crate::command::{CommandError, Committed, Repository};
use crate::store::EventStore;

/// A type-erased route: runs envelopes addressed to one aggregate type.
pub(super) trait Route: Send + Sync + 'static {
    fn dispatch<'a>(&'a self, envelope: &'a CommandEnvelope) -> BoxFuture<'a, CommandOutcome>;
}

/// The route of aggregate `A`, stored in `S`.
pub(super) struct RepositoryRoute<A: Aggregate, S: EventStore + ?Sized> {
    pub(super) repository: Repository<A, S>,
}

impl<A, S> Route for RepositoryRoute<A, S>
where
    A: Aggregate,
    A::Command: DeserializeOwned,
    S: EventStore + ?Sized,
{
    fn dispatch<'a>(&'a self, envelope: &'a CommandEnvelope) -> BoxFuture<'a, CommandOutcome> {
        Box::pin(self.run(envelope))
    }
}

impl<A, S> RepositoryRoute<A, S>
where
    A: Aggregate,
    A::Command: DeserializeOwned,
    S: EventStore + ?Sized,
{
    async fn run(&self, envelope: &CommandEnvelope) -> CommandOutcome {
        let about = || {
            format!(
                "command {} (`{}` for `{}`)",
                envelope.command_id,
                envelope.command_type,
                stream_id::<A>(&envelope.aggregate_id)
            )
        };
        let command: A::Command = match envelope.payload.deserialize() {
            Ok(command) => command,
            Err(error) => {
                return CommandOutcome::invalid(
                    InvalidCommand::UndecodablePayload,
                    format!(
                        "{}: the payload does not decode as {}: {error}",
                        about(),
                        std::any::type_name::<A::Command>()
                    ),
                )
            }
        };
        if command.aggregate_id() != envelope.aggregate_id {
            return CommandOutcome::invalid(
                InvalidCommand::AggregateIdMismatch,
                format!(
                    "{}: the payload is addressed to `{}`",
                    about(),
                    command.aggregate_id()
                ),
            );
        }
        if envelope.command_version > command.command_version() {
            return CommandOutcome::invalid(
                InvalidCommand::UnsupportedCommandVersion,
                format!(
                    "{}: version {} is newer than version {} this process decodes",
                    about(),
                    envelope.command_version,
                    command.command_version()
                ),
            );
        }
        let context = envelope.context();
        let stream = stream_id::<A>(&envelope.aggregate_id);
        if envelope.deadline_passed(Utc::now()) {
            // Past its deadline it is not run; one that ran before still reports its
            // first outcome (the pipeline's own lookup, made once).
            return match self.repository.earlier_outcome(&stream, &context).await {
                Ok(Some(earlier)) => outcome_of::<A, S>(earlier, &about),
                Ok(None) => CommandOutcome::invalid(
                    InvalidCommand::DeadlinePassed,
                    format!(
                        "{}: its deadline {} passed",
                        about(),
                        envelope
                            .deadline
                            .map(|d| d.to_rfc3339())
                            .unwrap_or_default()
                    ),
                ),
                Err(error) => failed(&error, about()),
            };
        }
        outcome_of::<A, S>(self.repository.execute_in(&context, command).await, &about)
    }
}

/// The outcome a command's execution (or its earlier one) reports.
fn outcome_of<A: Aggregate, S: EventStore + ?Sized>(
    executed: Result<Committed<A::Event>, CommandError<A::Error>>,
    about: &dyn Fn() -> String,
) -> CommandOutcome {
    match executed {
        Ok(committed) => CommandOutcome::Accepted {
            position: committed.last_position(),
            events: committed.events.len(),
            stream_id: committed.stream_id,
            version: committed.version,
            replayed: committed.replayed,
        },
        Err(error) => match Repository::<A, S>::refusal_of(&error) {
            Some((code, message)) => CommandOutcome::Refused { code, message },
            None => failed(&error, about()),
        },
    }
}

/// The outcome of a command that failed without a refusal.
fn failed<E: std::error::Error + 'static>(
    error: &CommandError<E>,
    about: String,
) -> CommandOutcome {
    let message = format!("{about}: {error}");
    match error {
        CommandError::CommandIdReused { .. } => {
            CommandOutcome::invalid(InvalidCommand::CommandIdReused, message)
        }
        _ => CommandOutcome::Failed {
            kind: error.kind(),
            message,
        },
    }
}
