//! A processor that dies after appending a command's events but before replying: the next
//! processor of the group gets the command again, which has no second effect, and the
//! sender receives the first outcome (`replayed`).

mod command_bus_support;
mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use command_bus_support::{deposit, Bus, ScriptedStore};
use cqrs_core::worker::WorkerState;
use cqrs_core::{CommandBus, CommandOutcome, EventStore, InMemoryEventStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_redelivered_after_a_crash_between_append_and_reply_is_replayed_not_run_again() {
    let Some(bus) = Bus::new("crash").await else {
        return;
    };
    let events = Arc::new(InMemoryEventStore::new());
    let crashing = Arc::new(ScriptedStore::over(events.clone()));
    let first = bus.processor(bus.router(crashing.clone()));
    // One record batch per command: tansu 0.6.0 cannot resume inside a batch (README).
    let sender = bus
        .sender_with(
            bus.kafka.clone().set("batch.num.messages", "1"),
            bus.sender_config(),
        )
        .await;
    let timeout = Duration::from_secs(60);

    let before = sender
        .send(deposit("a1", 100), timeout)
        .await
        .expect("reply");
    assert!(before.outcome.is_accepted(), "{:?}", before.outcome);
    // Let the first processor commit that offset: only the crashed command comes again.
    tokio::time::sleep(Duration::from_millis(500)).await;

    crashing.crash_after_append.store(true, Ordering::SeqCst);
    let sent = deposit("a1", 50);
    let waiting = {
        let (sender, sent) = (sender.clone(), sent.clone());
        tokio::spawn(async move { sender.send(sent, timeout).await })
    };
    tokio::time::timeout(Duration::from_secs(30), crashing.appended.notified())
        .await
        .expect("the first processor appends the command");
    assert_eq!(events.read_stream("Account-a1", 1).await.unwrap().len(), 2);
    let mut state = first.state();
    first.abort();
    let stopped = tokio::time::timeout(Duration::from_secs(10), state.stopped())
        .await
        .expect("stopped");
    assert!(matches!(stopped, WorkerState::Failed(_)), "{stopped:?}");

    // A new member of the group, on the same events.
    let second = bus.processor(bus.router(events.clone()));
    let reply = waiting.await.unwrap().expect("the sender gets the outcome");
    assert_eq!(reply.command_id, sent.command_id);
    assert_eq!(
        reply.outcome,
        CommandOutcome::Accepted {
            stream_id: "Account-a1".into(),
            version: 2,
            position: Some(2),
            events: 1,
            replayed: true,
        },
        "the first execution's outcome"
    );
    let stored = events.read_stream("Account-a1", 1).await.unwrap();
    assert_eq!(stored.len(), 2, "no second effect: {stored:?}");

    // And the group goes on.
    let after = sender.send(deposit("a1", 1), timeout).await.expect("reply");
    assert!(
        matches!(
            after.outcome,
            CommandOutcome::Accepted {
                version: 3,
                replayed: false,
                ..
            }
        ),
        "{:?}",
        after.outcome
    );
    sender.shutdown().await;
    second.shutdown().await.expect("clean shutdown");
}
