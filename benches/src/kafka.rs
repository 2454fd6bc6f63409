//! Kafka figures: the outbox relay (from the in-memory store and from PostgreSQL) beside
//! the raw rdkafka producer, and the consumer runner beside a raw consumer loop, all
//! against the same broker in the same run.
//!
//! Every measurement uses its own fresh topics (3 partitions). The relay figures time the
//! relay from its start until the broker acknowledged and the checkpoint covers every
//! event; the raw producer sends the same messages (key, payload, headers) with the same
//! producer settings (idempotent, acks=all, linger 5 ms) and awaits every acknowledgement.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, Projection,
    RecordedEvent,
};
use cqrs_kafka::{
    ConsumerConfig, ConsumerRunner, EventRelay, KafkaConfig, ProjectionHandler, RelayConfig,
    TopicMapping,
};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use uuid::Uuid;

use crate::table::{Row, Table};

const GROUP: &str = "kafka";
/// Events per relay / producer measurement.
const EVENTS: usize = 200_000;
/// Streams the events are spread over.
const STREAMS: usize = 100;
/// Events per append when filling a store.
const PER_APPEND: usize = 10;

/// Runs every Kafka figure against `brokers` (the relay from PostgreSQL against
/// `database_url`) and adds the rows to `table`.
pub async fn run(table: &mut Table, database_url: &str, brokers: &str) {
    let kafka = KafkaConfig::new(brokers);
    let probe = format!("bench-probe-{}", short_id());
    if let Err(error) = cqrs_kafka::create_topics(&kafka, &[&probe], 1, 1).await {
        eprintln!("  kafka: skipped, no broker at {brokers}: {error}");
        return;
    }

    let raw = raw_producer(&kafka).await;
    let raw_baseline = Some(("raw rdkafka producer".to_owned(), raw));
    table.push(Row {
        group: GROUP,
        name: format!("raw rdkafka producer, {EVENTS} msgs (idempotent, acks=all)"),
        value: raw,
        unit: "msgs/s",
        baseline: None,
        target: "-".into(),
    });

    let memory = Arc::new(InMemoryEventStore::new());
    fill(&*memory).await;
    let (relayed, topics) = relay(&kafka, memory.clone()).await;
    table.push(Row {
        group: GROUP,
        name: format!("relay from in-memory store, {EVENTS} events"),
        value: relayed,
        unit: "events/s",
        baseline: raw_baseline.clone(),
        target: ">= 0.5x raw".into(),
    });

    match postgres_store(database_url).await {
        Ok((store, drop_schema)) => {
            fill(&*store).await;
            let (relayed, _) = relay(&kafka, store.clone()).await;
            table.push(Row {
                group: GROUP,
                name: format!("relay from PostgreSQL log, {EVENTS} events"),
                value: relayed,
                unit: "events/s",
                baseline: raw_baseline,
                target: ">= 0.5x raw".into(),
            });
            drop_schema.await;
        }
        Err(reason) => eprintln!("  kafka: relay from PostgreSQL skipped: {reason}"),
    }

    let raw_consumer = raw_consume(&kafka, &topics).await;
    let consumed = consume(&kafka, &topics).await;
    table.push(Row {
        group: GROUP,
        name: format!("consumer runner into an in-memory projection, {EVENTS} msgs"),
        value: consumed,
        unit: "msgs/s",
        baseline: Some(("raw StreamConsumer recv loop".to_owned(), raw_consumer)),
        target: "-".into(),
    });
}

fn short_id() -> String {
    Uuid::new_v4().simple().to_string()[..10].to_owned()
}

fn topics_for(prefix: &str) -> Vec<String> {
    vec![format!("{prefix}Order"), format!("{prefix}Invoice")]
}

/// Appends [`EVENTS`] events over [`STREAMS`] streams (half `Order-`, half `Invoice-`).
async fn fill<S: EventStore + ?Sized>(store: &S) {
    let metadata = Metadata {
        correlation_id: Some(Uuid::now_v7()),
        causation_id: Some(Uuid::now_v7()),
        ..Metadata::default()
    };
    for append in 0..EVENTS / PER_APPEND {
        let stream = append % STREAMS;
        let category = match stream % 2 {
            0 => "Order",
            _ => "Invoice",
        };
        let events = (0..PER_APPEND)
            .map(|i| {
                let payload = JsonPayload::parse(format!(
                    r#"{{"sku":"SKU-{i}","quantity":{i},"unit_price":1250}}"#
                ));
                NewEvent::raw("LineAdded", 1, payload.expect("json"))
            })
            .collect();
        store
            .append(
                &format!("{category}-{stream}"),
                ExpectedVersion::Any,
                events,
                &metadata,
            )
            .await
            .expect("append");
    }
}

/// Relays everything in `store` to fresh topics; returns events/s and the topics.
async fn relay<S: EventStore + ?Sized>(kafka: &KafkaConfig, store: Arc<S>) -> (f64, Vec<String>) {
    let prefix = format!("bench-relay-{}.", short_id());
    let topics = topics_for(&prefix);
    create(kafka, &topics).await;
    let head = store.head_position().await.expect("head");
    let config = RelayConfig {
        topics: TopicMapping::by_category().with_prefix(&prefix),
        ..RelayConfig::default()
    };
    let started = Instant::now();
    let running = EventRelay::new(store, kafka.clone())
        .with_config(config)
        .spawn();
    running
        .wait_for_position(head, Duration::from_secs(600))
        .await
        .expect("relay catches up");
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    running.shutdown().await.expect("relay shutdown");
    (rate, topics)
}

/// The same messages as the relay sends, straight through a FutureProducer.
async fn raw_producer(kafka: &KafkaConfig) -> f64 {
    let prefix = format!("bench-raw-{}.", short_id());
    let topics = topics_for(&prefix);
    create(kafka, &topics).await;
    let store = InMemoryEventStore::new();
    fill(&store).await;
    let events = store.read_all(1, EVENTS).await.expect("read");
    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mapping = TopicMapping::by_category().with_prefix(&prefix);
    let started = Instant::now();
    let mut deliveries: Vec<DeliveryFuture> = Vec::with_capacity(events.len());
    for event in &events {
        let topic = mapping.topic_for(event);
        let mut record = FutureRecord::to(&topic)
            .key(event.stream_id.as_bytes())
            .payload(event.payload.as_str())
            .headers(cqrs_kafka::headers::encode(event));
        loop {
            match producer.send_result(record) {
                Ok(delivery) => break deliveries.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((error, _)) => panic!("raw producer: {error}"),
            }
        }
    }
    for delivery in deliveries {
        delivery.await.expect("producer alive").expect("delivered");
    }
    EVENTS as f64 / started.elapsed().as_secs_f64()
}

/// A read model: events per stream, deduplicated by stream version.
#[derive(Default)]
struct EventsPerStream {
    applied: HashMap<Arc<str>, u64>,
}

#[async_trait]
impl Projection for EventsPerStream {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "events-per-stream"
    }
    fn persistence(&self) -> cqrs_core::Persistence {
        cqrs_core::Persistence::InMemory
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        let applied = self.applied.entry(event.stream_id.clone()).or_default();
        *applied = (*applied).max(event.stream_version);
        Ok(())
    }
}

/// The consumer runner reading `topics` from the start into [`EventsPerStream`].
async fn consume(kafka: &KafkaConfig, topics: &[String]) -> f64 {
    let config = ConsumerConfig::new(format!("bench-runner-{}", short_id()), topics.to_vec());
    let started = Instant::now();
    let running = ConsumerRunner::new(
        kafka.clone(),
        config,
        ProjectionHandler::new(EventsPerStream::default()),
    )
    .spawn()
    .expect("consumer");
    running
        .wait_for(Duration::from_secs(600), |stats| {
            stats.processed() >= EVENTS as u64
        })
        .await
        .expect("consumed");
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    let projection = running
        .shutdown()
        .await
        .expect("consumer shutdown")
        .into_inner();
    assert_eq!(projection.applied.values().sum::<u64>(), EVENTS as u64);
    rate
}

/// A bare StreamConsumer `recv` loop over the same topics, same group settings.
async fn raw_consume(kafka: &KafkaConfig, topics: &[String]) -> f64 {
    let consumer: StreamConsumer = kafka
        .client_config()
        .set("group.id", format!("bench-raw-{}", short_id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).expect("subscribe");
    let started = Instant::now();
    for _ in 0..EVENTS {
        consumer.recv().await.expect("message");
    }
    EVENTS as f64 / started.elapsed().as_secs_f64()
}

/// Creates `topics` and waits until the broker reports a leader for every partition, so
/// no figure includes the broker's warm-up of fresh topics (tansu answers the first
/// metadata requests for a new topic without leaders, for up to a second).
async fn create(kafka: &KafkaConfig, topics: &[String]) {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    cqrs_kafka::create_topics(kafka, &names, 3, 1)
        .await
        .expect("create topics");
    let probe: rdkafka::consumer::BaseConsumer =
        kafka.client_config().create().expect("metadata client");
    let started = Instant::now();
    for topic in topics {
        loop {
            let ready = probe
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .is_ok_and(|metadata| {
                    metadata.topics().iter().all(|t| {
                        t.error().is_none()
                            && t.partitions().len() == 3
                            && t.partitions()
                                .iter()
                                .all(|p| p.error().is_none() && p.leader() >= 0)
                    })
                });
            if ready {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "topic {topic} has no leader after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A PgEventStore in a fresh schema, and a future that drops the schema.
async fn postgres_store(
    url: &str,
) -> Result<(Arc<PgEventStore>, impl std::future::Future<Output = ()>), String> {
    let schema =
        SchemaName::new(format!("bench_kafka_{}", short_id())).map_err(|e| e.to_string())?;
    let config = PgEventStoreConfig::new(schema.clone()).max_connections(4);
    let store = PgEventStore::connect(url, config)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
    let store = Arc::new(store);
    let pool = store.pool().clone();
    let drop_schema = async move {
        let sql = format!("DROP SCHEMA {} CASCADE", schema.quoted());
        if let Err(error) = cqrs_postgres::sqlx::query(&sql).execute(&pool).await {
            eprintln!("  kafka: cannot drop schema {schema}: {error}");
        }
    };
    Ok((store, drop_schema))
}
