//! Commands executed again under the same command id: what the store kept of the first
//! execution is the outcome, so a retry after a lost reply or a crash has no second effect.
//!
//! The rules, written once here for every store:
//! - **Look before deciding.** The events of a command carry ids derived from its id
//!   ([`command_event_id`]); a stored first event means the command was accepted, and its
//!   events are the outcome. Otherwise a [`RecordedRefusal`] means it was refused.
//! - **A refusal is recorded** (insert-if-absent) before it is reported.
//! - **Acceptance wins.** Two executions racing on different states may decide
//!   differently; once the events of one are stored, that is the outcome every later
//!   execution reports, also one that recorded a refusal meanwhile (it looks again after
//!   recording).
//!
//! One window stays open: two executions of one id running *at the same moment*, one
//! refusing and one accepting, where the refusing one looks again before the accepting
//! one's append commits. The refusing caller is then told "refused" while every later
//! repeat reports the acceptance. A client that retries only after it gave up on the
//! first attempt (a lost reply, a crash, a timeout) never meets it; closing it would take
//! the append and the refusal record in one transaction, which not every store has.

use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::envelope::{RecordedEvent, StreamEventRef};
use crate::store::commands::cut_code_and_message;
use crate::store::{command_event_id, EventStore, RecordedRefusal};

use super::{CommandContext, CommandError, Committed, Repository};

/// How many derived event ids one lookup of an earlier batch asks for.
const LOOKUP_PAGE: usize = 64;

/// What an earlier execution of a command id did, if anything.
pub(super) type EarlierOutcome<E, Error> = Option<Result<Committed<E>, CommandError<Error>>>;

impl<A: Aggregate, S: EventStore + ?Sized> Repository<A, S> {
    /// The outcome of an earlier execution of `context`'s command id against `stream`:
    /// its events, or its recorded refusal; `None` when it never ran (or decided nothing).
    pub(super) async fn earlier_outcome(
        &self,
        stream: &str,
        context: &CommandContext,
    ) -> Result<EarlierOutcome<A::Event, A::Error>, CommandError<A::Error>> {
        if let Some(accepted) = self.earlier_events(stream, context).await? {
            return Ok(Some(Ok(accepted)));
        }
        let refusal = self
            .store
            .load_refusal(context.command_id)
            .await
            .map_err(CommandError::Store)?;
        Ok(refusal.map(|refusal| Err(self.reported_refusal(stream, refusal))))
    }

    /// Records that the domain refused `context`'s command at `version` and returns what
    /// to report: the domain error when this refusal was recorded, the recorded one when
    /// another execution recorded first, or the events of an execution that was accepted
    /// meanwhile.
    pub(super) async fn record_refusal(
        &self,
        stream: &str,
        version: u64,
        context: &CommandContext,
        error: A::Error,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        let refusal = RecordedRefusal::new(
            context.command_id,
            stream,
            version,
            &A::refusal_code(&error),
            &error.to_string(),
        );
        let recorded = self
            .store
            .record_refusal(refusal.clone())
            .await
            .map_err(CommandError::Store)?;
        if let Some(accepted) = self.earlier_events(stream, context).await? {
            return Ok(accepted);
        }
        // Equal to ours (to the millisecond) means ours was stored; a racing execution's
        // refusal differs at least in its time.
        if recorded == refusal {
            Err(CommandError::Rejected(error))
        } else {
            Err(self.reported_refusal(stream, recorded))
        }
    }

    /// The events `context`'s command appended to `stream` in an earlier execution.
    async fn earlier_events(
        &self,
        stream: &str,
        context: &CommandContext,
    ) -> Result<Option<Committed<A::Event>>, CommandError<A::Error>> {
        let first_id = command_event_id(context.command_id, 0);
        let found = self
            .store
            .read_events_by_id(&[first_id])
            .await
            .map_err(CommandError::Store)?;
        let Some(first) = found.into_iter().next() else {
            return Ok(None);
        };
        if &*first.stream_id != stream {
            return Err(CommandError::CommandIdReused {
                command_id: context.command_id,
                stream: stream.to_owned(),
                recorded_stream: first.stream_id.to_string(),
            });
        }
        // The batch's other events, by their derived ids, a page at a time: bounded by the
        // batch, not by how long the stream has grown since.
        let mut recorded = vec![first];
        loop {
            let from = recorded.len();
            let ids: Vec<Uuid> = (from..from + LOOKUP_PAGE)
                .map(|index| command_event_id(context.command_id, index))
                .collect();
            let mut page = self
                .store
                .read_events_by_id(&ids)
                .await
                .map_err(CommandError::Store)?;
            page.retain(|event| &*event.stream_id == stream);
            page.sort_by_key(|event| event.stream_version);
            let found = page.len();
            recorded.extend(
                page.into_iter()
                    .zip(from..)
                    .take_while(|(event, index)| {
                        event.event_id == command_event_id(context.command_id, *index)
                    })
                    .map(|(event, _)| event),
            );
            if found < LOOKUP_PAGE || recorded.len() < from + LOOKUP_PAGE {
                break;
            }
        }
        self.replayed(stream, recorded).map(Some)
    }

    /// The outcome of a command whose `recorded` events were stored by an earlier
    /// execution.
    pub(super) fn replayed(
        &self,
        stream: &str,
        recorded: Vec<RecordedEvent>,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        let events = recorded
            .iter()
            .map(|event| StreamEventRef::from(event).decode::<A::Event>(&self.upcasters))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CommandError::Decode)?;
        Ok(Committed {
            stream_id: stream.to_owned(),
            version: recorded.last().map_or(0, |e| e.stream_version),
            events,
            recorded,
            attempts: 0,
            replayed: true,
        })
    }

    fn reported_refusal(&self, stream: &str, refusal: RecordedRefusal) -> CommandError<A::Error> {
        if refusal.stream_id != stream {
            return CommandError::CommandIdReused {
                command_id: refusal.command_id,
                stream: stream.to_owned(),
                recorded_stream: refusal.stream_id,
            };
        }
        CommandError::AlreadyRefused(refusal)
    }

    /// The code and message of a refusal, fresh ([`CommandError::Rejected`], coded by
    /// [`Aggregate::refusal_code`]) or recorded ([`CommandError::AlreadyRefused`]); `None`
    /// for every other error. What a command bus or an HTTP API reports for both alike: a
    /// fresh refusal's code and message are cut to the lengths a store keeps, so a replay
    /// reports exactly what the first execution did.
    pub fn refusal_of(error: &CommandError<A::Error>) -> Option<(String, String)> {
        match error {
            CommandError::Rejected(error) => Some(cut_code_and_message(
                &A::refusal_code(error),
                &error.to_string(),
            )),
            CommandError::AlreadyRefused(refusal) => {
                Some((refusal.code.clone(), refusal.message.clone()))
            }
            _ => None,
        }
    }
}
