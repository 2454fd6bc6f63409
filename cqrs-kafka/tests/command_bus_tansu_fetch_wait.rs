//! Reproduces a tansu 0.6.0 behaviour that sets the command bus's latency there: a fetch
//! that finds no new message is held for its whole `fetch.wait.max.ms`, even when a
//! message arrives meanwhile (Apache Kafka answers it as soon as `fetch.min.bytes`, 1 by
//! default, is there). Plain rdkafka, nothing of this crate but the config type:
//!
//! `cargo test -p cqrs-kafka --test command_bus_tansu_fetch_wait -- --ignored --nocapture`
//!
//! Measured on tansu 0.6.0 with a 2 s fetch wait, three rounds: each message, produced
//! 300 ms after the consumer was assigned, was received 1.19 s after the broker had
//! acknowledged it (the rest of the fetch wait), where Apache Kafka takes milliseconds.

mod support;

use std::time::{Duration, Instant};

use cqrs_kafka::KafkaConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of the broker, printed; run with --ignored"]
async fn a_waiting_fetch_is_answered_only_at_the_end_of_its_wait() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = support::unique("fetch-wait");
    cqrs_kafka::create_topics(&kafka, &[topic.as_str()], 1, 1)
        .await
        .expect("topic");
    let producer: FutureProducer = kafka.client_config().create().expect("producer");
    for round in 0..3 {
        let consumer: StreamConsumer = kafka
            .client_config()
            .set("group.id", support::unique("fetch-wait"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "2000")
            .create()
            .expect("consumer");
        let (_, end) = consumer
            .fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .expect("watermarks");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Offset(end))
            .unwrap();
        consumer.assign(&assignment).expect("assign");
        let receiving = async {
            let message = consumer.recv().await.expect("message");
            drop(message);
            Instant::now()
        };
        let producing = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let record = FutureRecord::to(&topic).key("k").payload("v");
            producer
                .send(record, Duration::from_secs(5))
                .await
                .expect("delivered");
            Instant::now()
        };
        let (received, produced) = tokio::join!(receiving, producing);
        eprintln!(
            "round {round}: received {:?} after the broker acknowledged the message (fetch.wait.max.ms 2000)",
            received.saturating_duration_since(produced)
        );
    }
}
