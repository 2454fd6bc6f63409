//! sensor-log ingest throughput: device readings produced to Kafka in batches, until all
//! are queryable in PostgreSQL, beside the raw UNNEST insert rate of the same rows.
//!
//! - **baseline**: the 200,000 readings inserted straight into PostgreSQL with the
//!   example's batch statement (`INSERT ... SELECT FROM UNNEST(...) ON CONFLICT DO
//!   NOTHING`), 1,000 rows a statement, no Kafka, no validation.
//! - **end to end**: the same readings as device messages (JSON arrays of 1,000, and of
//!   100) produced to a fresh `logger.sensor.ts` topic (3 partitions) while the writer job
//!   consumes them; the clock stops when `count(*)` of the readings table reaches 200,000.
//!   The writer has joined its group before the clock starts (a warm-up message). The
//!   writer stores batches of up to 100 messages with one statement
//!   (`BatchConsumerRunner`), so both sizes insert thousands of rows per round trip.
//!
//! Target: >= 50,000 readings/s end to end on a 2-core machine, at both sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_kafka::KafkaConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sensor_log::device::{decode_readings, Limits};
use sensor_log::ingest::kafka::{spawn_writer, WriterConfig};
use sensor_log::ingest::{Ingestor, Topics};
use sensor_log::reading::Reading;
use sensor_log::store::{PostgresStore, SensorStore};

use crate::table::{Row, Table};

const READINGS: usize = 200_000;
const SENSORS: usize = 100;
const T0: i64 = 1_646_409_600;
const TARGET: f64 = 50_000.0;

/// The benchmark's readings as device messages of `per_message` readings each.
fn messages(per_message: usize) -> Vec<String> {
    (0..READINGS / per_message)
        .map(|m| {
            let items: Vec<String> = (0..per_message)
                .map(|i| {
                    let n = m * per_message + i;
                    let (sensor, step) = (n % SENSORS + 1, (n / SENSORS) as i64);
                    format!(
                        r#"{{"ts":{},"sensor_id":{sensor},"temperature":{}.5,"cpu":{}}}"#,
                        T0 + step,
                        n % 60,
                        n % 100
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        })
        .collect()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000);
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn drop_schema(store: &PostgresStore) {
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", store.schema());
    if let Err(error) = sqlx::query(&sql).execute(store.pool()).await {
        eprintln!("  cannot drop schema {}: {error}", store.schema());
    }
}

/// Raw batch inserts of the same rows, no Kafka: readings/s.
async fn baseline(database_url: &str, batches: &[Vec<Reading>]) -> Result<f64, String> {
    let store = PostgresStore::connect(database_url, &unique("bench_sl_raw"))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for batch in batches {
        store
            .insert_readings(batch)
            .await
            .map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    drop_schema(&store).await;
    Ok(READINGS as f64 / elapsed.as_secs_f64())
}

/// Produce to Kafka while the writer consumes; readings/s until all are in PostgreSQL.
async fn end_to_end(
    database_url: &str,
    brokers: &str,
    per_message: usize,
) -> Result<(f64, f64), String> {
    let suffix = unique("bench");
    let topics = Topics::with_suffix(&suffix);
    let kafka = KafkaConfig::new(brokers);
    cqrs_kafka::create_topics(&kafka, &topics.all(), 3, 1)
        .await
        .map_err(|e| e.to_string())?;
    let store = PostgresStore::connect(database_url, &format!("bench_sl_{suffix}"))
        .await
        .map_err(|e| e.to_string())?;
    let result = measure(&store, kafka, topics, &suffix, per_message).await;
    drop_schema(&store).await;
    result
}

/// The timed part of [`end_to_end`]: returns (end-to-end rate, produce rate).
async fn measure(
    store: &PostgresStore,
    kafka: KafkaConfig,
    topics: Topics,
    suffix: &str,
    per_message: usize,
) -> Result<(f64, f64), String> {
    let producer: FutureProducer = kafka
        .client_config()
        .set("linger.ms", "5")
        .set("message.max.bytes", "4000000")
        .create()
        .map_err(|e| e.to_string())?;
    let send = |topic: &str, key: String, payload: String| {
        let producer = producer.clone();
        let topic = topic.to_owned();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&key).payload(&payload),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| e.to_string())
        }
    };

    let config = WriterConfig {
        group_id: format!("bench-{suffix}"),
        topics: topics.clone(),
        ..WriterConfig::default()
    };
    let ingestor = Ingestor::new(Arc::new(store.clone()) as Arc<dyn SensorStore>);
    let writer = spawn_writer(kafka, config, ingestor).map_err(|e| e.to_string())?;
    // Warm-up: the writer joins its group and stores one reading before the clock starts.
    let warm_up = format!(
        r#"[{{"ts":{T0},"sensor_id":{},"temperature":1,"cpu":1}}]"#,
        SENSORS + 1
    );
    send(&topics.readings, "warm-up".into(), warm_up).await?;
    writer
        .wait_for(Duration::from_secs(60), |stats| stats.processed() >= 1)
        .await
        .map_err(|e| e.to_string())?;

    let payloads = messages(per_message);
    let started = Instant::now();
    let sends = payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| send(&topics.readings, format!("gateway-{}", i % 16), payload));
    futures::future::try_join_all(sends).await?;
    let produced = started.elapsed();
    let target = READINGS as u64 + 1;
    loop {
        let stored = store.count_readings().await.map_err(|e| e.to_string())?;
        if stored >= target {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!(
                "only {stored} of {target} readings stored after 300 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    if let Err(error) = writer.shutdown().await {
        eprintln!("  writer shutdown: {error}");
    }
    Ok((
        READINGS as f64 / elapsed.as_secs_f64(),
        READINGS as f64 / produced.as_secs_f64(),
    ))
}

/// Runs the sensor-log group.
pub async fn run(table: &mut Table, database_url: &str, brokers: &str) {
    let batches: Vec<Vec<Reading>> = messages(1_000)
        .iter()
        .map(|m| {
            decode_readings(m.as_bytes(), &Limits::default()).expect("benchmark messages are valid")
        })
        .collect();
    let raw = match baseline(database_url, &batches).await {
        Ok(rate) => rate,
        Err(error) => {
            eprintln!("  sensor-log skipped: PostgreSQL baseline failed: {error}");
            return;
        }
    };
    let baseline_name = "raw UNNEST inserts, 1,000 rows/statement, no Kafka".to_owned();
    for per_message in [1_000, 100] {
        match end_to_end(database_url, brokers, per_message).await {
            Ok((rate, produce_rate)) => {
                eprintln!(
                    "  ({per_message} readings/message: produced at {produce_rate:.0} readings/s)"
                );
                table.push(Row {
                    group: "sensor-log",
                    name: format!(
                        "200k readings Kafka -> PostgreSQL, {per_message} readings/message, until queryable"
                    ),
                    value: rate,
                    unit: "readings/s",
                    baseline: Some((baseline_name.clone(), raw)),
                    target: format!(">= {TARGET:.0} readings/s"),
                })
            }
            Err(error) => {
                eprintln!("  sensor-log end to end ({per_message}/message) failed: {error}")
            }
        }
    }
}
