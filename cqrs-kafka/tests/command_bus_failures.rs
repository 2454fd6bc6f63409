//! Infrastructure failures on the processor: a transient one (store unavailable) is
//! retried until it passes and never replied; a permanent one gets a `Failed` reply and
//! the command is dead-lettered.

mod command_bus_support;
mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use command_bus_support::{deposit, Bus, ScriptedStore};
use cqrs_core::{CommandBus, CommandOutcome, EventStore, FailureKind};
use cqrs_kafka::command_bus::headers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_until_it_passes_and_a_permanent_one_is_replied_and_dead_lettered(
) {
    let Some(bus) = Bus::new("failures").await else {
        return;
    };
    let store = Arc::new(ScriptedStore::default());
    let processor = bus.processor(bus.router(store.clone()));
    let sender = bus.sender().await;
    let timeout = Duration::from_secs(60);
    sender
        .send(deposit("warm-up", 1), timeout)
        .await
        .expect("reply");

    store.down.store(true, Ordering::SeqCst);
    let waiting = {
        let sender = sender.clone();
        tokio::spawn(async move { sender.send(deposit("a1", 5), timeout).await })
    };
    processor
        .wait_for(Duration::from_secs(30), |stats| stats.retries >= 3)
        .await
        .expect("retried while the store is down");
    assert!(!waiting.is_finished(), "no reply while the store is down");
    store.down.store(false, Ordering::SeqCst);
    let reply = waiting
        .await
        .unwrap()
        .expect("reply once the store is back");
    assert!(
        matches!(reply.outcome, CommandOutcome::Accepted { version: 1, .. }),
        "{:?}",
        reply.outcome
    );
    assert_eq!(
        store
            .inner
            .read_stream("Account-a1", 1)
            .await
            .unwrap()
            .len(),
        1
    );

    store.refuse_appends.store(true, Ordering::SeqCst);
    let refused = deposit("a1", 6);
    let reply = sender.send(refused.clone(), timeout).await.expect("reply");
    let CommandOutcome::Failed { kind, message } = &reply.outcome else {
        panic!("expected a failure, got {:?}", reply.outcome);
    };
    assert_eq!(*kind, FailureKind::Permanent);
    assert!(message.contains("over the limit"), "{message}");
    store.refuse_appends.store(false, Ordering::SeqCst);
    let reply = sender.send(deposit("a1", 7), timeout).await.expect("reply");
    assert!(reply.outcome.is_accepted(), "the next command goes on");

    let letters = support::read::dead_letters(&bus.kafka, &bus.dead_letter_topic, 1).await;
    assert_eq!(
        letters[0].header(headers::COMMAND_ID),
        refused.command_id.to_string()
    );
    assert_eq!(letters[0].header(cqrs_kafka::headers::DLQ_STAGE), "handler");
    assert!(letters[0]
        .header(cqrs_kafka::headers::DLQ_ERROR)
        .contains("failed (permanent)"));
    sender.shutdown().await;
    processor.shutdown().await.expect("clean shutdown");
}
