//! Reproduces a known librdkafka crash: a topic deleted on tansu 0.6.0 under a running
//! consumer kills the process with SIGSEGV within a second (librdkafka 2.12.1, the newest
//! rdkafka-sys on crates.io). Ignored because it fails on purpose; run it with
//! `cargo test -p cqrs-kafka --test topic_deleted -- --ignored`. See the README's known
//! issues for the stack trace and the cause. Starts its own tansu so the deletion disturbs
//! nobody else; a crash kills this test binary, which fails the run.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::worker::WorkerState;
use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, RecordedEvent,
};
use cqrs_kafka::{
    ConsumerConfig, ConsumerRunner, EventRelay, HandlerError, KafkaConfig, MessageHandler,
    MessageSource, RelayConfig, TopicMapping,
};

struct Count;

#[async_trait]
impl MessageHandler for Count {
    async fn handle(
        &mut self,
        _: &RecordedEvent,
        _: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reproduces a SIGSEGV in librdkafka 2.12.1 on tansu 0.6.0; see the README's known issues"]
async fn deleting_the_topic_under_a_running_relay_and_consumer_does_not_crash_the_process() {
    if support::broker::tansu_binary().is_none() {
        support::broker::unavailable("no tansu binary to start a broker of its own");
        return;
    }
    let port = support::broker::free_port();
    let _tansu = support::broker::start_tansu(port).await;
    let brokers = format!("127.0.0.1:{port}");
    let kafka = KafkaConfig::new(&brokers).set("topic.metadata.refresh.interval.ms", "200");
    let prefix = format!("{}.", support::unique("deleted"));
    let topic = format!("{prefix}Order");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;

    let store = Arc::new(InMemoryEventStore::new());
    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(RelayConfig {
            topics: TopicMapping::by_category().with_prefix(&prefix),
            ..RelayConfig::default()
        })
        .spawn();
    let consumer = ConsumerRunner::new(
        kafka.clone(),
        ConsumerConfig::new(support::unique("deleted-view"), [topic.clone()]),
        Count,
    )
    .spawn()
    .expect("consumer");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..400u32 {
                let event = NewEvent::raw(
                    "Placed",
                    1,
                    JsonPayload::parse(format!("{{\"n\":{n}}}")).unwrap(),
                );
                let stream = format!("Order-{}", n % 10);
                let _ = store
                    .append(
                        &stream,
                        ExpectedVersion::Any,
                        vec![event],
                        &Metadata::default(),
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    consumer
        .wait_for(Duration::from_secs(30), |stats| stats.processed() >= 20)
        .await
        .expect("flowing");

    let status = tokio::process::Command::new(support::broker::tansu_binary().expect("tansu"))
        .args([
            "topic",
            "delete",
            &topic,
            "--broker",
            &format!("tcp://{brokers}"),
        ])
        .status()
        .await
        .expect("run tansu topic delete");
    eprintln!("tansu topic delete: {status}");
    // Keep producing and consuming while the clients notice the deletion.
    tokio::time::sleep(Duration::from_secs(8)).await;
    writer.abort();
    eprintln!(
        "relay {:?}, progress {:?}",
        relay.state().current(),
        relay.progress()
    );
    eprintln!(
        "consumer {:?}, stats {:?}",
        consumer.state().current(),
        consumer.progress()
    );
    assert_eq!(relay.state().current(), WorkerState::Running);
    relay.abort();
    consumer.abort();
}
