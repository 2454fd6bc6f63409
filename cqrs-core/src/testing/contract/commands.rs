//! Contract cases for idempotent commands: the same command id executed twice through the
//! [`Repository`] has one effect and one outcome, on every store, because what the first
//! execution did is kept by the store (event ids derived from the command id, recorded
//! refusals), not by the process.

use std::sync::Arc;

use uuid::Uuid;

use super::{unique_stream, whole_log};
use crate::{
    stream_id, Aggregate, Command, CommandContext, CommandError, Event, EventStore, Repository,
};

/// Adds `n` to a tally as two events (a batch of two, so a repeat must find both), or
/// refuses when the tally would pass `limit`.
#[derive(Debug, Default, Clone)]
struct Tally {
    total: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum TallyEvent {
    Requested { n: u64 },
    Added { n: u64 },
}

impl Event for TallyEvent {
    const EVENT_TYPES: &'static [&'static str] = &["Requested", "Added"];
    fn event_type(&self) -> &'static str {
        match self {
            TallyEvent::Requested { .. } => "Requested",
            TallyEvent::Added { .. } => "Added",
        }
    }
}

struct Add {
    id: String,
    n: u64,
    limit: u64,
}

impl Command for Add {
    fn aggregate_id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("adding {n} would pass {limit} (at {total})")]
struct TooMuch {
    n: u64,
    limit: u64,
    total: u64,
}

impl Aggregate for Tally {
    const TYPE: &'static str = "ContractTally";
    type Command = Add;
    type Event = TallyEvent;
    type Error = TooMuch;
    type Services = ();

    async fn handle(&self, add: &Add, _: &()) -> Result<Vec<TallyEvent>, TooMuch> {
        if self.total + add.n > add.limit {
            return Err(TooMuch {
                n: add.n,
                limit: add.limit,
                total: self.total,
            });
        }
        Ok(vec![
            TallyEvent::Requested { n: add.n },
            TallyEvent::Added { n: add.n },
        ])
    }

    fn apply(&mut self, event: &TallyEvent) {
        if let TallyEvent::Added { n } = event {
            self.total += n;
        }
    }

    fn refusal_code(_: &TooMuch) -> std::borrow::Cow<'static, str> {
        "too_much".into()
    }
}

fn repository<S: EventStore>(store: &Arc<S>) -> Repository<Tally, S> {
    Repository::new(store.clone())
}

fn add(id: &str, n: u64, limit: u64) -> Add {
    Add {
        id: id.to_owned(),
        n,
        limit,
    }
}

async fn total<S: EventStore>(store: &Arc<S>, id: &str) -> u64 {
    repository(store).load(id).await.expect("load").state.total
}

async fn events_of<S: EventStore>(store: &Arc<S>, id: &str) -> usize {
    store
        .read_stream(&stream_id::<Tally>(id), 1)
        .await
        .expect("read_stream")
        .len()
}

pub(crate) async fn a_repeated_command_id_returns_the_first_outcome_and_appends_once<
    S: EventStore,
>(
    store: &Arc<S>,
) {
    let id = unique_stream("tally");
    let tallies = repository(store);
    let context = CommandContext::new().with_command_id(Uuid::now_v7());
    let first = tallies
        .execute_in(&context, add(&id, 3, 100))
        .await
        .expect("first execution is accepted");
    assert!(!first.replayed);
    // Another command in between: the repeat must not decide on the newer state.
    tallies.execute(add(&id, 1, 100)).await.expect("other add");
    let repeat = tallies
        .execute_in(&context, add(&id, 3, 100))
        .await
        .expect("repeat is accepted");
    assert!(repeat.replayed, "the repeat must be reported as replayed");
    assert_eq!(repeat.version, first.version, "the repeat's version");
    assert_eq!(repeat.events, first.events, "the repeat's events");
    assert_eq!(
        repeat.recorded, first.recorded,
        "the repeat's stored events"
    );
    assert_eq!(repeat.last_position(), first.last_position());
    assert_eq!(
        total(store, &id).await,
        4,
        "the repeated command added once"
    );
    assert_eq!(events_of(store, &id).await, 4);

    // A different command under the same id returns the first one's outcome too.
    let other = tallies
        .execute_in(&context, add(&id, 50, 100))
        .await
        .expect("same id, other command");
    assert!(other.replayed);
    assert_eq!(other.events, first.events);
    assert_eq!(total(store, &id).await, 4);
}

pub(crate) async fn a_repeated_refused_command_id_reports_the_recorded_refusal<S: EventStore>(
    store: &Arc<S>,
) {
    let id = unique_stream("tally");
    let tallies = repository(store);
    let context = CommandContext::new().with_command_id(Uuid::now_v7());
    let refused = tallies
        .execute_in(&context, add(&id, 10, 5))
        .await
        .expect_err("over the limit");
    let Some((code, message)) = Repository::<Tally, S>::refusal_of(&refused) else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert!(matches!(refused, CommandError::Rejected(_)), "{refused:?}");
    assert_eq!(code, "too_much");

    // The state changes so that deciding again would accept: the repeat must not.
    tallies.execute(add(&id, 1, 100)).await.expect("other add");
    let repeat = tallies
        .execute_in(&context, add(&id, 10, 100))
        .await
        .expect_err("the repeat reports the refusal");
    match &repeat {
        CommandError::AlreadyRefused(recorded) => {
            assert_eq!(recorded.command_id, context.command_id);
            assert_eq!(recorded.stream_id, stream_id::<Tally>(&id));
            assert_eq!(recorded.stream_version, 0, "refused on a new stream");
            assert_eq!(recorded.code, code);
            assert_eq!(recorded.message, message);
        }
        other => panic!("expected AlreadyRefused, got {other:?}"),
    }
    assert!(repeat.is_rejection());
    assert_eq!(
        total(store, &id).await,
        1,
        "the refused command never added"
    );
}

pub(crate) async fn a_repeat_after_a_restart_sees_the_outcome<S: EventStore>(store: &Arc<S>) {
    let id = unique_stream("tally");
    let (accepted, refused) = (Uuid::now_v7(), Uuid::now_v7());
    {
        let before = repository(store);
        before
            .execute_in(
                &CommandContext::new().with_command_id(accepted),
                add(&id, 2, 10),
            )
            .await
            .expect("accepted");
        before
            .execute_in(
                &CommandContext::new().with_command_id(refused),
                add(&id, 20, 10),
            )
            .await
            .expect_err("refused");
    }
    // A new repository (a restarted process) knows only what the store kept.
    let after = repository(store);
    let repeat = after
        .execute_in(
            &CommandContext::new().with_command_id(accepted),
            add(&id, 2, 10),
        )
        .await
        .expect("accepted before the restart");
    assert!(repeat.replayed);
    assert_eq!(repeat.version, 2);
    let repeat = after
        .execute_in(
            &CommandContext::new().with_command_id(refused),
            add(&id, 1, 10),
        )
        .await
        .expect_err("refused before the restart");
    assert!(
        matches!(repeat, CommandError::AlreadyRefused(ref r) if r.code == "too_much"),
        "{repeat:?}"
    );
    assert_eq!(total(store, &id).await, 2);
}

pub(crate) async fn concurrent_executions_of_one_command_id_append_once<S: EventStore>(
    store: &Arc<S>,
) {
    let id = unique_stream("tally");
    let command_id = Uuid::now_v7();
    let runs = (0..8).map(|_| {
        let tallies = repository(store);
        let id = id.clone();
        tokio::spawn(async move {
            tallies
                .execute_in(
                    &CommandContext::new().with_command_id(command_id),
                    add(&id, 5, 100),
                )
                .await
                .map(|c| (c.version, c.recorded))
                .map_err(|e| e.to_string())
        })
    });
    let outcomes = futures::future::join_all(runs).await;
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|joined| joined.expect("no panic").expect("every execution accepted"))
        .collect();
    assert!(
        outcomes.iter().all(|o| o == &outcomes[0]),
        "every execution reports the one stored batch: {outcomes:?}"
    );
    assert_eq!(total(store, &id).await, 5, "added once");
    assert_eq!(events_of(store, &id).await, 2);
    let logged = whole_log(&**store)
        .await
        .into_iter()
        .filter(|e| *e.stream_id == stream_id::<Tally>(&id))
        .count();
    assert_eq!(logged, 2, "two events in the global log");
}

pub(crate) async fn a_command_id_reused_for_another_aggregate_is_refused<S: EventStore>(
    store: &Arc<S>,
) {
    let (first, second) = (unique_stream("tally"), unique_stream("tally"));
    let tallies = repository(store);
    let (accepted, refused) = (Uuid::now_v7(), Uuid::now_v7());
    tallies
        .execute_in(
            &CommandContext::new().with_command_id(accepted),
            add(&first, 1, 10),
        )
        .await
        .expect("accepted");
    tallies
        .execute_in(
            &CommandContext::new().with_command_id(refused),
            add(&first, 20, 10),
        )
        .await
        .expect_err("refused");
    for command_id in [accepted, refused] {
        let reused = tallies
            .execute_in(
                &CommandContext::new().with_command_id(command_id),
                add(&second, 1, 10),
            )
            .await
            .expect_err("the id belongs to another aggregate");
        match reused {
            CommandError::CommandIdReused {
                recorded_stream, ..
            } => assert_eq!(recorded_stream, stream_id::<Tally>(&first)),
            other => panic!("expected CommandIdReused, got {other:?}"),
        }
    }
    assert_eq!(events_of(store, &second).await, 0, "nothing written");
}
