//! Reading topics back with a fresh consumer group.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cqrs_kafka::KafkaConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: String,
    /// The message timestamp, milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub headers: HashMap<String, String>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("header {name} missing in {self:?}"))
    }
}

/// Reads `topics` from the start with a new group until `expected` messages arrived, then
/// keeps reading for `settle` to catch extra copies. Panics after `timeout`.
pub async fn read_topics(
    kafka: &KafkaConfig,
    topics: &[String],
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Vec<Received> {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", super::unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).expect("subscribe");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut settle_until = None;
    loop {
        let now = Instant::now();
        if settle_until.is_some_and(|until| now >= until) {
            break;
        }
        assert!(
            now - started < timeout,
            "read {} of {expected} messages from {topics:?} within {timeout:?}",
            received.len()
        );
        let wait = settle_until.map_or(Duration::from_millis(500), |until: Instant| until - now);
        let Ok(message) = tokio::time::timeout(wait, consumer.recv()).await else {
            continue;
        };
        let message = message.expect("receive");
        let text =
            |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        received.push(Received {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: text(message.key()),
            payload: text(message.payload()),
            timestamp: message.timestamp().to_millis(),
            headers: message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), text(h.value)))
                        .collect()
                })
                .unwrap_or_default(),
        });
        if received.len() >= expected && settle_until.is_none() {
            settle_until = Some(Instant::now() + settle);
        }
    }
    received
}

/// How many copies of each event id (header `event-id`) arrived.
pub fn copies_by_event_id(received: &[Received]) -> HashMap<&str, usize> {
    let mut copies = HashMap::new();
    for message in received {
        *copies
            .entry(message.header(cqrs_kafka::headers::EVENT_ID))
            .or_default() += 1;
    }
    copies
}

/// Reads the dead-letter topic `topic` until `expected` letters arrived, then 1 s more to
/// catch extra ones, and checks that no more than `expected` came.
pub async fn dead_letters(kafka: &KafkaConfig, topic: &str, expected: usize) -> Vec<Received> {
    let topics = [topic.to_owned()];
    let letters = read_topics(
        kafka,
        &topics,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(letters.len(), expected, "{letters:#?}");
    letters
}
