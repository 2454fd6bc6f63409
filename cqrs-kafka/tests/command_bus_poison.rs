//! Poison commands never stop the processor: an unknown aggregate type, a payload that
//! does not decode and a message that is no envelope each get an `Invalid` reply (when
//! there is somewhere to send it) and land on the dead-letter topic, a command whose
//! aggregate panics gets a permanent `Failed` reply and is dead-lettered, a command whose
//! reply-to is no reply topic is dead-lettered unrun, and the commands after them on the
//! same partition are processed.

mod command_bus_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use command_bus_support::{deposit, Bus};
use cqrs_core::{
    CommandBus, CommandOutcome, CommandReply, EventStore, FailureKind, InMemoryEventStore,
    InvalidCommand, JsonPayload,
};
use cqrs_kafka::command_bus::headers;
use cqrs_kafka::headers::{DLQ_ERROR, DLQ_STAGE};

fn invalid_code(reply: &CommandReply) -> InvalidCommand {
    match &reply.outcome {
        CommandOutcome::Invalid { code, .. } => *code,
        other => panic!("expected an invalid outcome, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_commands_get_an_invalid_reply_and_are_dead_lettered_while_the_next_command_is_processed(
) {
    let Some(bus) = Bus::new("poison").await else {
        return;
    };
    let store = Arc::new(InMemoryEventStore::new());
    let processor = bus.processor(bus.router(store.clone()));
    let account_topic = bus.topics.topic_for("Account").into_owned();
    // Commands for `Invoice`, which the processor does not route, on the Account topic.
    let mut config = bus.sender_config();
    config.topics = config.topics.route("Invoice", &account_topic);
    let sender = bus.sender_with(bus.kafka.clone(), config).await;
    let timeout = Duration::from_secs(60);

    // Everything for aggregate `a1`: one partition, so each comes after the one before.
    let mut unknown = deposit("a1", 1);
    unknown.aggregate_type = "Invoice".into();
    let reply = sender.send(unknown.clone(), timeout).await.expect("reply");
    assert_eq!(invalid_code(&reply), InvalidCommand::UnknownAggregateType);

    let mut undecodable = deposit("a1", 1);
    undecodable.payload =
        JsonPayload::parse(r#"{"type":"Deposit","id":"a1","cents":"lots"}"#).unwrap();
    let reply = sender
        .send(undecodable.clone(), timeout)
        .await
        .expect("reply");
    assert_eq!(invalid_code(&reply), InvalidCommand::UndecodablePayload);

    // No envelope at all, but headers naming the command and a reply topic: answered.
    let answerable = uuid::Uuid::now_v7().to_string();
    support::publish::produce_raw(
        &bus.kafka,
        &account_topic,
        "a1",
        b"{not json",
        &[
            (headers::COMMAND_ID, &answerable),
            (headers::REPLY_TO, &bus.reply_topic),
        ],
    )
    .await;
    // Nothing to answer to.
    support::publish::produce_raw(&bus.kafka, &account_topic, "a1", br#"{"hello":1}"#, &[]).await;
    // A reply-to that is no reply topic (here the command topic itself): not run, no reply
    // written there.
    // An aggregate that panics on the command: a permanent failure, replied and
    // dead-lettered; the processor goes on.
    let panicking = deposit("a1", -1);
    let reply = sender
        .send(panicking.clone(), timeout)
        .await
        .expect("reply");
    assert!(
        matches!(
            &reply.outcome,
            CommandOutcome::Failed { kind: FailureKind::Permanent, message } if message.contains("panicked")
        ),
        "{:?}",
        reply.outcome
    );
    let mut misdirected = deposit("a1", 5);
    misdirected.reply_to = Some(account_topic.clone());
    sender.publish(&misdirected).await.expect("published");

    let reply = sender.send(deposit("a1", 7), timeout).await.expect("reply");
    assert!(
        matches!(reply.outcome, CommandOutcome::Accepted { version: 1, .. }),
        "the next command is processed: {:?}",
        reply.outcome
    );
    assert_eq!(
        store.head_position().await.unwrap(),
        1,
        "no poison command had an effect"
    );
    let stats = processor.progress();
    assert_eq!(stats.dead_lettered, 6, "{stats:?}");

    let letters = support::read::dead_letters(&bus.kafka, &bus.dead_letter_topic, 6).await;
    for letter in &letters {
        assert_eq!(letter.key, "a1", "original key kept");
    }
    let by_id = |id: &str| {
        letters
            .iter()
            .find(|l| l.headers.get(headers::COMMAND_ID).map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no dead letter for {id}: {letters:#?}"))
    };
    let letter = by_id(&unknown.command_id.to_string());
    assert_eq!(letter.header(DLQ_STAGE), "handler");
    assert!(
        letter.header(DLQ_ERROR).contains("unknown_aggregate_type"),
        "{letter:?}"
    );
    let letter = by_id(&undecodable.command_id.to_string());
    assert!(
        letter.header(DLQ_ERROR).contains("undecodable_payload"),
        "{letter:?}"
    );
    let letter = by_id(&panicking.command_id.to_string());
    assert!(letter.header(DLQ_ERROR).contains("panicked"), "{letter:?}");
    let letter = by_id(&misdirected.command_id.to_string());
    assert!(
        letter.header(DLQ_ERROR).contains("is not a reply topic"),
        "{letter:?}"
    );
    let letter = by_id(&answerable);
    assert_eq!(letter.payload, "{not json");
    assert!(
        letter.header(DLQ_ERROR).contains("undecodable_envelope"),
        "{letter:?}"
    );
    let unanswerable = letters
        .iter()
        .find(|l| l.payload == r#"{"hello":1}"#)
        .expect("the message that is no envelope");
    assert_eq!(unanswerable.header(DLQ_STAGE), "decode");
    assert!(
        unanswerable
            .header(DLQ_ERROR)
            .contains("no command envelope"),
        "{unanswerable:?}"
    );

    // The message that was no envelope got its `Invalid` reply too.
    let replies = support::read_topics(
        &bus.kafka,
        std::slice::from_ref(&bus.reply_topic),
        4,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
    .await;
    let reply = replies
        .iter()
        .find(|r| r.header(headers::COMMAND_ID) == answerable)
        .expect("a reply to the message that was no envelope");
    let reply: CommandReply = serde_json::from_str(&reply.payload).unwrap();
    assert_eq!(invalid_code(&reply), InvalidCommand::UndecodableEnvelope);

    sender.shutdown().await;
    processor.shutdown().await.expect("clean shutdown");
}
