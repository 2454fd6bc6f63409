//! The services of the e2e tests: a PostgreSQL schema and three Kafka topics per test,
//! a producer of raw device messages, and readers of rows and dead letters.

use std::sync::Arc;
use std::time::Duration;

use cqrs_kafka::KafkaConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use sensor_log::device::Limits;
use sensor_log::ingest::kafka::WriterConfig;
use sensor_log::ingest::{Ingestor, Topics};
use sensor_log::store::PostgresStore;
use serde_json::{json, Value};

/// A record of the dead-letter topic.
#[derive(Debug)]
pub struct DeadLetterRecord {
    /// Its value.
    pub payload: Vec<u8>,
    /// Its headers, values as (lossy) text.
    pub headers: Vec<(String, String)>,
}

impl DeadLetterRecord {
    /// The value of header `name`, empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }
}

/// A dead letter: the original value (as JSON when it is JSON), `dlq-stage`, `dlq-error`.
pub type DeadLetter = (Value, String, String);

pub const T0: i64 = 1_646_409_600; // 2022-03-04T16:00:00Z

pub struct Services {
    pub brokers: String,
    pub topics: Topics,
    pub store: PostgresStore,
}

impl Services {
    pub async fn start(test: &str) -> Option<Self> {
        let url = super::database_url(test).await?;
        let brokers = super::kafka_brokers(test).await?;
        let suffix = super::unique("e2e");
        let topics = Topics::with_suffix(&suffix);
        cqrs_kafka::create_topics(&KafkaConfig::new(&brokers), &topics.all(), 3, 1)
            .await
            .expect("create topics");
        let store = PostgresStore::connect(&url, &format!("sl_{suffix}"))
            .await
            .expect("store");
        Some(Self {
            brokers,
            topics,
            store,
        })
    }

    pub fn writer_config(&self, group: &str) -> WriterConfig {
        WriterConfig {
            group_id: format!("{group}-{}", self.store.schema()),
            topics: self.topics.clone(),
            ..WriterConfig::default()
        }
    }

    pub fn ingestor(&self) -> Ingestor {
        // A small size limit, so the oversized case stays below the broker's own limit.
        Ingestor::new(Arc::new(self.store.clone())).with_limits(Limits {
            max_message_bytes: 64 * 1024,
            max_readings: 10_000,
        })
    }

    /// Produces `messages` in order, keyed `device-0` .. `device-3` in turn.
    pub async fn produce(&self, topic: &str, messages: &[String]) {
        let producer = self.producer();
        for (index, message) in messages.iter().enumerate() {
            let key = format!("device-{}", index % 4);
            send(&producer, topic, &key, message.as_bytes()).await;
        }
    }

    /// Produces `messages` in order with one key, so they land on one partition in this
    /// order: a message "sent after" another is consumed after it.
    pub async fn produce_keyed(&self, topic: &str, key: &str, messages: &[&[u8]]) {
        let producer = self.producer();
        for message in messages {
            send(&producer, topic, key, message).await;
        }
    }

    /// A producer whose own size limit (librdkafka `message.max.bytes`, default
    /// 1,000,000) is raised to 32 MiB, so that the broker, not the test's producer, decides
    /// about large messages, as with a device producer configured that way.
    fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("message.timeout.ms", "10000")
            .set("message.max.bytes", (32 << 20).to_string())
            .create()
            .expect("producer")
    }

    pub async fn rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM readings")
            .fetch_one(self.store.pool())
            .await
            .expect("count")
    }

    /// The first `count` dead letters: value as JSON (or as a string), stage, error.
    pub async fn dead_letters(&self, count: usize) -> Vec<DeadLetter> {
        self.dead_letter_records(count)
            .await
            .into_iter()
            .map(|record| {
                let payload = String::from_utf8_lossy(&record.payload).into_owned();
                let body = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
                let stage = record.header(cqrs_kafka::headers::DLQ_STAGE);
                (body, stage, record.header(cqrs_kafka::headers::DLQ_ERROR))
            })
            .collect()
    }

    /// The first `count` records of the dead-letter topic, as they are (read with fetch
    /// limits large enough for any message the tests send).
    pub async fn dead_letter_records(&self, count: usize) -> Vec<DeadLetterRecord> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("dlq-reader-{}", self.store.schema()))
            .set("auto.offset.reset", "earliest")
            .set("fetch.message.max.bytes", (32 << 20).to_string())
            .create()
            .expect("consumer");
        consumer
            .subscribe(&[&self.topics.dead_letter])
            .expect("subscribe");
        let mut found = Vec::new();
        while found.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
                .await
                .expect("dead letters arrive")
                .expect("receive");
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            let value = x.value.map(String::from_utf8_lossy).unwrap_or_default();
                            (x.key.to_owned(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.push(DeadLetterRecord {
                payload: message.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
        found
    }

    pub async fn drop_schema(&self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.store.schema());
        sqlx::query(&sql)
            .execute(self.store.pool())
            .await
            .expect("drop schema");
    }
}

/// `count` messages of `per_message` readings: sensors 1 and 2 alternately, one reading a
/// minute from T0, temperature 20 + minute % 10, cpu = minute % 100.
pub fn good_messages(count: usize, per_message: usize) -> Vec<String> {
    (0..count)
        .map(|m| {
            let readings: Vec<Value> = (0..per_message)
                .map(|i| {
                    let minute = (m * per_message + i) as i64;
                    json!({"ts": T0 + minute * 60, "sensor_id": 1 + (minute % 2),
                           "temperature": 20 + minute % 10, "cpu": minute % 100})
                })
                .collect();
            Value::from(readings).to_string()
        })
        .collect()
}

async fn send(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap_or_else(|error| {
            panic!(
                "producing {} bytes to {topic} failed: {error}",
                payload.len()
            )
        });
}

/// Polls `condition` every 50 ms until it holds or `timeout` passed; how long it took.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while start.elapsed() < timeout {
        if condition().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
