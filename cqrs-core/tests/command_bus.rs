//! The command router and the in-process bus: every envelope gets a typed outcome, and a
//! repeated command id gets the first one.

mod support;

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cqrs_core::{
    Aggregate, Command, CommandBus, CommandContext, CommandEnvelope, CommandOutcome, CommandReply,
    CommandRouter, Event, EventStore, FailureKind, InMemoryEventStore, InProcessBus,
    InvalidCommand, JsonPayload, Repository, RetryPolicy, SendError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
enum AccountEvent {
    Deposited { cents: i64 },
    Withdrawn { cents: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
enum AccountCommand {
    Deposit { id: String, cents: i64 },
    Withdraw { id: String, cents: i64 },
}

impl Command for AccountCommand {
    fn aggregate_id(&self) -> &str {
        match self {
            AccountCommand::Deposit { id, .. } | AccountCommand::Withdraw { id, .. } => id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds: balance {balance}, wanted {wanted}")]
struct InsufficientFunds {
    balance: i64,
    wanted: i64,
}

#[derive(Default)]
struct Account {
    balance: i64,
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = InsufficientFunds;
    type Services = ();

    async fn handle(
        &self,
        command: &AccountCommand,
        _: &(),
    ) -> Result<Vec<AccountEvent>, InsufficientFunds> {
        if let AccountCommand::Deposit { cents: SLOW, .. } = command {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match *command {
            AccountCommand::Deposit { cents, .. } => Ok(vec![AccountEvent::Deposited { cents }]),
            AccountCommand::Withdraw { cents, .. } if cents > self.balance => {
                Err(InsufficientFunds {
                    balance: self.balance,
                    wanted: cents,
                })
            }
            AccountCommand::Withdraw { cents, .. } => Ok(vec![AccountEvent::Withdrawn { cents }]),
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { cents } => self.balance += cents,
            AccountEvent::Withdrawn { cents } => self.balance -= cents,
        }
    }

    fn refusal_code(_: &InsufficientFunds) -> Cow<'static, str> {
        Cow::Borrowed("insufficient_funds")
    }
}

/// A deposit of this amount takes 200 ms to decide.
const SLOW: i64 = 7_777;

fn deposit(id: &str, cents: i64) -> AccountCommand {
    AccountCommand::Deposit {
        id: id.into(),
        cents,
    }
}

fn withdraw(id: &str, cents: i64) -> AccountCommand {
    AccountCommand::Withdraw {
        id: id.into(),
        cents,
    }
}

fn envelope(command: &AccountCommand) -> CommandEnvelope {
    CommandEnvelope::new::<Account>(command, &CommandContext::new()).expect("serializable")
}

fn router() -> (Arc<InMemoryEventStore>, CommandRouter) {
    let store = Arc::new(InMemoryEventStore::new());
    let router = CommandRouter::new().route(Repository::<Account, _>::new(store.clone()));
    (store, router)
}

async fn events_in(store: &InMemoryEventStore, stream: &str) -> usize {
    store.read_stream(stream, 1).await.expect("read").len()
}

fn invalid_code(outcome: &CommandOutcome) -> InvalidCommand {
    match outcome {
        CommandOutcome::Invalid { code, .. } => *code,
        other => panic!("expected an invalid outcome, got {other:?}"),
    }
}

#[tokio::test]
async fn an_accepted_command_reports_its_stream_version_and_global_position() {
    let (_, router) = router();
    router.dispatch(&envelope(&deposit("a0", 1))).await;
    let outcome = router.dispatch(&envelope(&deposit("a1", 500))).await;
    assert_eq!(
        outcome,
        CommandOutcome::Accepted {
            stream_id: "Account-a1".into(),
            version: 1,
            position: Some(2),
            events: 1,
            replayed: false,
        }
    );
}

#[tokio::test]
async fn a_refused_command_reports_the_domain_code_and_message() {
    let (store, router) = router();
    router.dispatch(&envelope(&deposit("a1", 100))).await;
    let outcome = router.dispatch(&envelope(&withdraw("a1", 900))).await;
    assert_eq!(
        outcome,
        CommandOutcome::Refused {
            code: "insufficient_funds".into(),
            message: "insufficient funds: balance 100, wanted 900".into(),
        }
    );
    assert_eq!(events_in(&store, "Account-a1").await, 1);
}

#[tokio::test]
async fn a_repeated_command_id_gets_the_first_outcome_without_a_second_effect() {
    let (store, router) = router();
    let accepted = envelope(&deposit("a1", 100));
    let first = router.dispatch(&accepted).await;
    let again = router.dispatch(&accepted).await;
    let CommandOutcome::Accepted {
        version,
        position,
        replayed,
        ..
    } = again
    else {
        panic!("expected accepted, got {again:?}");
    };
    assert!(replayed, "the repeat is the first execution's outcome");
    assert!(
        matches!(first, CommandOutcome::Accepted { version: v, position: p, replayed: false, .. } if v == version && p == position)
    );
    assert_eq!(events_in(&store, "Account-a1").await, 1, "one effect");

    let refused = envelope(&withdraw("a1", 900));
    let first = router.dispatch(&refused).await;
    // Money arrives meanwhile: the repeat still reports the recorded refusal.
    router.dispatch(&envelope(&deposit("a1", 5_000))).await;
    let again = router.dispatch(&refused).await;
    assert!(matches!(first, CommandOutcome::Refused { .. }), "{first:?}");
    assert_eq!(first, again);
    assert_eq!(events_in(&store, "Account-a1").await, 2);
}

#[tokio::test]
async fn an_unknown_aggregate_type_is_invalid() {
    let (_, router) = router();
    let mut unknown = envelope(&deposit("a1", 1));
    unknown.aggregate_type = "Invoice".into();
    let outcome = router.dispatch(&unknown).await;
    assert_eq!(invalid_code(&outcome), InvalidCommand::UnknownAggregateType);
    assert!(outcome.to_string().contains("`Invoice`"), "{outcome}");
    assert!(outcome.is_poison());
}

#[tokio::test]
async fn an_undecodable_payload_is_invalid_and_nothing_is_appended() {
    let (store, router) = router();
    let mut garbled = envelope(&deposit("a1", 1));
    garbled.payload = JsonPayload::parse(r#"{"type":"Deposit","id":"a1","cents":"lots"}"#).unwrap();
    let outcome = router.dispatch(&garbled).await;
    assert_eq!(invalid_code(&outcome), InvalidCommand::UndecodablePayload);
    assert!(outcome
        .to_string()
        .contains(&garbled.command_id.to_string()));
    assert_eq!(store.head_position().await.unwrap(), 0);
}

#[tokio::test]
async fn an_envelope_addressed_to_another_aggregate_than_its_payload_is_invalid() {
    let (store, router) = router();
    let mut mismatched = envelope(&deposit("a1", 1));
    mismatched.aggregate_id = "a2".into();
    let outcome = router.dispatch(&mismatched).await;
    assert_eq!(invalid_code(&outcome), InvalidCommand::AggregateIdMismatch);
    assert_eq!(store.head_position().await.unwrap(), 0);
}

#[tokio::test]
async fn a_command_past_its_deadline_is_invalid_unless_it_ran_before() {
    let (store, router) = router();
    let late = envelope(&deposit("a1", 1)).with_deadline(Utc::now() - chrono::Duration::seconds(1));
    let outcome = router.dispatch(&late).await;
    assert_eq!(invalid_code(&outcome), InvalidCommand::DeadlinePassed);
    assert_eq!(store.head_position().await.unwrap(), 0, "not executed");

    // Executed in time, redelivered after its deadline: the first outcome, not "too late".
    let timely =
        envelope(&deposit("a2", 1)).with_deadline(Utc::now() + chrono::Duration::seconds(30));
    assert!(router.dispatch(&timely).await.is_accepted());
    let redelivered = timely.with_deadline(Utc::now() - chrono::Duration::seconds(1));
    let outcome = router.dispatch(&redelivered).await;
    assert!(
        matches!(outcome, CommandOutcome::Accepted { replayed: true, .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_command_version_newer_than_this_process_decodes_is_invalid() {
    let (_, router) = router();
    let mut newer = envelope(&deposit("a1", 1));
    newer.command_version = 2;
    let outcome = router.dispatch(&newer).await;
    assert_eq!(
        invalid_code(&outcome),
        InvalidCommand::UnsupportedCommandVersion
    );
}

#[tokio::test]
async fn a_command_id_reused_for_another_aggregate_is_invalid() {
    let (_, router) = router();
    let first = envelope(&deposit("a1", 1));
    router.dispatch(&first).await;
    let mut reused = envelope(&deposit("a2", 1));
    reused.command_id = first.command_id;
    let outcome = router.dispatch(&reused).await;
    assert_eq!(invalid_code(&outcome), InvalidCommand::CommandIdReused);
}

#[tokio::test]
async fn an_unavailable_store_is_a_transient_failure() {
    let store = Arc::new(support::FaultyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let router = CommandRouter::new().route(Repository::<Account, _>::new(store));
    let outcome = router.dispatch(&envelope(&deposit("a1", 1))).await;
    assert!(
        matches!(
            &outcome,
            CommandOutcome::Failed {
                kind: FailureKind::Transient,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(outcome.is_transient() && !outcome.is_poison());
}

#[tokio::test]
async fn the_in_process_bus_retries_transient_failures_within_the_timeout() {
    let store = Arc::new(support::FaultyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let bus =
        InProcessBus::new(CommandRouter::new().route(Repository::<Account, _>::new(store.clone())))
            .with_transient_backoff(RetryPolicy::between(
                Duration::from_millis(5),
                Duration::from_millis(20),
            ));
    let healer = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            store.down.store(false, Ordering::SeqCst);
        })
    };
    let sent = envelope(&deposit("a1", 1));
    let reply = bus
        .send(sent.clone(), Duration::from_secs(5))
        .await
        .expect("reply");
    healer.await.unwrap();
    assert_eq!(reply.command_id, sent.command_id);
    assert_eq!(reply.correlation_id, sent.correlation_id);
    assert!(reply.outcome.is_accepted(), "{:?}", reply.outcome);

    // Still down when the timeout ends: the answer is the transient failure (or, when the
    // last retry and the timeout meet on a loaded machine, the timeout; transient too).
    store.down.store(true, Ordering::SeqCst);
    match bus
        .send(envelope(&deposit("a1", 1)), Duration::from_millis(50))
        .await
    {
        Ok(reply) => assert!(reply.outcome.is_transient(), "{:?}", reply.outcome),
        Err(error) => assert!(
            matches!(error, SendError::Timeout { .. }) && error.kind() == FailureKind::Transient,
            "{error:?}"
        ),
    }
}

#[tokio::test]
async fn the_in_process_bus_times_out_but_lets_the_command_finish() {
    let (store, router) = router();
    let bus = InProcessBus::new(router);
    let sent = envelope(&deposit("a1", SLOW));
    let error = bus
        .send(sent.clone(), Duration::from_millis(20))
        .await
        .expect_err("the decision takes 200 ms");
    assert!(
        matches!(error, SendError::Timeout { command_id, .. } if command_id == sent.command_id),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    let finished_by = tokio::time::Instant::now() + Duration::from_secs(10);
    while events_in(&store, "Account-a1").await == 0 {
        assert!(
            tokio::time::Instant::now() < finished_by,
            "the command never ran to the end"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        events_in(&store, "Account-a1").await,
        1,
        "it ran to the end, once"
    );
    // Resent: the first outcome, one effect in all.
    let reply = bus.send(sent, Duration::from_secs(5)).await.expect("reply");
    assert!(
        matches!(
            reply.outcome,
            CommandOutcome::Accepted { replayed: true, .. }
        ),
        "{:?}",
        reply.outcome
    );
    assert_eq!(events_in(&store, "Account-a1").await, 1);
}

#[test]
fn envelopes_and_replies_round_trip_through_json() {
    let context = CommandContext::new().with_header(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    let sent = CommandEnvelope::new::<Account>(&deposit("a1", 5), &context)
        .unwrap()
        .with_reply_to("replies")
        .with_causation_id(Uuid::now_v7())
        .with_deadline(Utc::now());
    let text = serde_json::to_string(&sent).unwrap();
    let mut received: CommandEnvelope = serde_json::from_str(&text).unwrap();
    assert_eq!(
        received.payload.to_value().unwrap(),
        sent.payload.to_value().unwrap()
    );
    received.payload = sent.payload.clone(); // same JSON, keys maybe in another order
    assert_eq!(received, sent);
    assert_eq!(sent.command_type, "AccountCommand");

    for outcome in [
        CommandOutcome::Accepted {
            stream_id: "Account-a1".into(),
            version: 3,
            position: None,
            events: 0,
            replayed: true,
        },
        CommandOutcome::Invalid {
            code: InvalidCommand::DeadlinePassed,
            message: "late".into(),
        },
        CommandOutcome::Failed {
            kind: FailureKind::Permanent,
            message: "broken".into(),
        },
    ] {
        let reply = CommandReply::to(&sent, outcome);
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            serde_json::from_str::<CommandReply>(&text).unwrap(),
            reply,
            "{text}"
        );
    }
    let reply: CommandReply = serde_json::from_str(&format!(
        r#"{{"command_id":"{}","correlation_id":"{}","outcome":"invalid","code":"from_the_future","message":"?"}}"#,
        sent.command_id, sent.correlation_id
    ))
    .unwrap();
    assert_eq!(invalid_code(&reply.outcome), InvalidCommand::Other);
    let failed = r#"{"outcome":"failed","kind":"transient","message":"down"}"#;
    assert!(serde_json::from_str::<CommandOutcome>(failed)
        .unwrap()
        .is_transient());
}

/// Compiles only if the bus's futures are `Send`: awaitable inside `tokio::spawn`.
#[allow(dead_code)]
fn every_bus_future_is_send(router: CommandRouter, bus: InProcessBus, sent: CommandEnvelope) {
    let again = sent.clone();
    tokio::spawn(async move { router.dispatch(&sent).await });
    tokio::spawn(async move { bus.send(again, Duration::from_secs(1)).await });
    let shared: Arc<dyn CommandBus> = Arc::new(InProcessBus::new(CommandRouter::new()));
    tokio::spawn(async move {
        shared
            .send(envelope(&deposit("a", 1)), Duration::from_secs(1))
            .await
    });
}
