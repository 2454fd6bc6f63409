//! Services mode end to end: raw device messages produced to Kafka, the writer job
//! storing them in PostgreSQL, malformed ones in the dead-letter topic with the reason,
//! redelivery storing nothing twice, and the query API over PostgreSQL.
//!
//! Needs PostgreSQL (`DATABASE_URL`) and a Kafka broker (`KAFKA_BROKERS`, e.g. started by
//! `scripts/start-kafka.sh`); without them it prints `SKIPPED ...` and passes, unless
//! `CI=true`. Every test uses its own schema, topics and consumer groups.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cqrs_kafka::KafkaConfig;
use sensor_log::api::{router, AppState};
use sensor_log::device::SensorInfo;
use sensor_log::ingest::kafka::spawn_writer;
use sensor_log::ingest::Ingestor;
use sensor_log::queries::SensorQueries;
use sensor_log::reading::{Reading, SensorId};
use sensor_log::span::Span;
use sensor_log::store::{
    BucketStats, LatestReading, PostgresStore, SensorStore, StoreError, TimeRange,
};
use serde_json::{json, Value};
use support::services::{good_messages, Services, T0};

fn bad_messages() -> Vec<(String, &'static str)> {
    let oversized =
        json!([{"ts": T0, "sensor_id": 9, "temperature": 1, "cpu": 1, "pad": "x".repeat(70_000)}]);
    vec![
        ("this is not json".to_owned(), "not valid JSON"),
        (
            r#"[{"ts": 1646409600, "sensor_id": 9, "temperature": 30, "cpu": 150}]"#.to_owned(),
            "out_of_range at [0].cpu",
        ),
        (
            r#"[{"ts": 1646409600, "sensor_id": 9, "cpu": 5}]"#.to_owned(),
            "missing_field at [0].temperature",
        ),
        (
            r#"[{"ts": "now", "sensor_id": 9, "temperature": 1, "cpu": 5}]"#.to_owned(),
            "wrong_type at [0].ts",
        ),
        (oversized.to_string(), "oversized"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_stores_valid_readings_dead_letters_the_rest_and_never_duplicates() {
    let Some(services) = Services::start("writer").await else {
        return;
    };
    let good = good_messages(20, 30); // 600 readings, 300 minutes of two sensors
    let bad = bad_messages();
    services
        .produce(
            &services.topics.sensors,
            &[
                r#"{"id": 1, "type": "pi", "location": "lab"}"#.to_owned(),
                "{\"id\": 0}".to_owned(),
            ],
        )
        .await;
    services.produce(&services.topics.readings, &good).await;
    let bad_texts: Vec<String> = bad.iter().map(|(m, _)| m.clone()).collect();
    services
        .produce(&services.topics.readings, &bad_texts)
        .await;
    let total = (good.len() + bad.len() + 2) as u64;

    let writer = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("writer"),
        services.ingestor(),
    )
    .expect("writer");
    let stats = writer
        .wait_for(Duration::from_secs(90), |stats| stats.processed() >= total)
        .await
        .expect("all processed");
    assert_eq!(stats.dead_lettered, (bad.len() + 1) as u64, "{stats:?}");
    assert_eq!(services.rows().await, 600);
    writer.shutdown().await.expect("shutdown");

    // Every malformed message is in the dead-letter topic with its reason.
    let letters = services.dead_letters(bad.len() + 1).await;
    for (message, reason) in &bad {
        let letter = letters
            .iter()
            .find(|(_, _, error)| error.contains(reason))
            .unwrap_or_else(|| panic!("no dead letter with `{reason}` in {letters:#?}"));
        let original: Value =
            serde_json::from_str(message).unwrap_or_else(|_| Value::String(message.clone()));
        assert_eq!(
            letter.0, original,
            "the dead letter carries the original message"
        );
        let stage = if reason == &"not valid JSON" {
            "decode"
        } else {
            "handler"
        };
        assert_eq!(letter.1, stage);
    }
    assert!(
        letters
            .iter()
            .any(|(_, _, error)| error.contains("out_of_range at id")),
        "{letters:#?}"
    );

    // Redelivery: a second group re-reads everything, and devices resend some messages.
    services
        .produce(&services.topics.readings, &good[..5])
        .await;
    let replay = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("replay"),
        services.ingestor(),
    )
    .expect("writer");
    replay
        .wait_for(Duration::from_secs(90), |stats| {
            stats.processed() >= total + 5
        })
        .await
        .expect("replayed");
    replay.shutdown().await.expect("shutdown");
    assert_eq!(
        services.rows().await,
        600,
        "redelivered readings are stored once"
    );

    // The metadata arrived; sensor 2 was registered by its readings alone.
    let sensors = services.store.sensors(None, 10).await.expect("sensors");
    assert_eq!(sensors.len(), 2);
    assert_eq!(sensors[0].location.as_deref(), Some("lab"));
    assert_eq!(sensors[1].kind, None);
    services.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_writer_leaves_uncommitted_messages_to_the_next_one() {
    let Some(services) = Services::start("crash").await else {
        return;
    };
    let good = good_messages(10, 10);
    services.produce(&services.topics.readings, &good).await;
    let config = services.writer_config("crash");
    let first = spawn_writer(
        KafkaConfig::new(&services.brokers),
        config.clone(),
        services.ingestor(),
    )
    .expect("writer");
    first
        .wait_for(Duration::from_secs(90), |stats| stats.processed() >= 10)
        .await
        .expect("processed");
    first.abort(); // no commit: a crash after the rows were written

    services
        .produce(&services.topics.readings, &good_messages(12, 10)[10..])
        .await;
    let second = spawn_writer(
        KafkaConfig::new(&services.brokers),
        config,
        services.ingestor(),
    )
    .expect("writer");
    // Whatever the first one had not committed is delivered again, plus the 2 new messages.
    second
        .wait_for(Duration::from_secs(90), |stats| stats.processed() >= 2)
        .await
        .expect("processed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while services.rows().await < 120 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.shutdown().await.expect("shutdown");
    assert_eq!(
        services.rows().await,
        120,
        "nothing lost, nothing duplicated"
    );
    services.drop_schema().await;
}

/// The PostgreSQL store with a switch that makes its writes fail, like a database that
/// went away.
struct OutageStore {
    inner: PostgresStore,
    down: AtomicBool,
}

impl OutageStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                operation: "inserting readings".into(),
                source: sqlx::Error::PoolTimedOut,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl SensorStore for OutageStore {
    async fn insert_readings(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.insert_readings(readings).await
    }
    async fn upsert_sensor(&self, sensor: &SensorInfo) -> Result<(), StoreError> {
        self.check()?;
        self.inner.upsert_sensor(sensor).await
    }
    async fn sensors(&self, a: Option<SensorId>, l: usize) -> Result<Vec<SensorInfo>, StoreError> {
        self.inner.sensors(a, l).await
    }
    async fn readings(
        &self,
        s: SensorId,
        r: TimeRange,
        a: Option<DateTime<Utc>>,
        l: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        self.inner.readings(s, r, a, l).await
    }
    async fn stats(
        &self,
        s: SensorId,
        r: TimeRange,
        b: Span,
        m: usize,
    ) -> Result<Vec<BucketStats>, StoreError> {
        self.inner.stats(s, r, b, m).await
    }
    async fn latest(&self, w: Span) -> Result<Vec<LatestReading>, StoreError> {
        self.inner.latest(w).await
    }
    async fn count_readings(&self) -> Result<u64, StoreError> {
        self.inner.count_readings().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_retried_until_stored_without_skipping_or_dead_lettering() {
    let Some(services) = Services::start("outage").await else {
        return;
    };
    let good = good_messages(10, 10);
    services.produce(&services.topics.readings, &good).await;
    let store = Arc::new(OutageStore {
        inner: services.store.clone(),
        down: AtomicBool::new(true),
    });
    let writer = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("outage"),
        Ingestor::new(store.clone()),
    )
    .expect("writer");

    // While the database is down the batch is retried; nothing is handled or skipped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while writer.progress().retries < 2 {
        let stats = writer.progress();
        assert!(
            tokio::time::Instant::now() < deadline && stats.dead_lettered == 0,
            "no retries: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during = writer.progress();
    assert_eq!((during.handled, during.dead_lettered), (0, 0), "{during:?}");
    assert_eq!(services.rows().await, 0);

    // Back up: every message is stored, none went to the dead-letter topic.
    store.down.store(false, Ordering::SeqCst);
    let after = writer
        .wait_for(Duration::from_secs(90), |stats| {
            stats.processed() >= good.len() as u64
        })
        .await
        .expect("processed after the outage");
    assert_eq!(after.dead_lettered, 0, "{after:?}");
    assert_eq!(services.rows().await, 100);
    writer.shutdown().await.expect("shutdown");
    services.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_api_pages_and_aggregates_what_the_writer_stored() {
    let Some(services) = Services::start("query api").await else {
        return;
    };
    services
        .produce(&services.topics.readings, &good_messages(4, 60))
        .await; // 4 hours
    let writer = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("api"),
        services.ingestor(),
    )
    .expect("writer");
    writer
        .wait_for(Duration::from_secs(90), |stats| stats.processed() >= 4)
        .await
        .expect("processed");
    writer.shutdown().await.expect("shutdown");

    let store: Arc<dyn SensorStore> = Arc::new(services.store.clone());
    let app = router(AppState {
        queries: SensorQueries::new(store),
        ingestor: None,
    });
    // Sensor 1 has the even minutes: 120 readings. Pages of 50: 50, 50, 20.
    let mut uri = "/sensors/1/readings?limit=50".to_owned();
    let mut sizes = Vec::new();
    let mut last_ts = String::new();
    loop {
        let (status, page) = support::get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        let first_ts = items[0]["ts"].as_str().expect("ts").to_owned();
        assert!(
            first_ts > last_ts,
            "pages follow each other without overlap"
        );
        last_ts = items
            .last()
            .and_then(|r| r["ts"].as_str())
            .expect("ts")
            .to_owned();
        sizes.push(items.len());
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/sensors/1/readings?limit=50&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(sizes, vec![50, 50, 20]);

    let (status, stats) =
        support::get(&app, "/sensors/2/stats?bucket=1h&from=2022-03-04T17:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let buckets = stats["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 3);
    assert_eq!(buckets[0]["bucket_start"], "2022-03-04T17:00:00Z");
    assert_eq!(buckets[0]["count"], 30);
    // Odd minutes 61..=119: temperature 20 + minute % 10 cycles 21,23,25,27,29.
    assert_eq!(
        buckets[0]["temperature"],
        json!({"avg": 25.0, "min": 21.0, "max": 29.0})
    );

    let (_, latest) = support::get(&app, "/sensors/latest").await;
    assert_eq!(latest[1]["sensor_id"], 2);
    assert_eq!(latest[1]["ts"], "2022-03-04T19:59:00Z");
    // Malformed parameters, and times PostgreSQL cannot store (it answered 503 to these
    // with SQLSTATE 22008), are a 400 naming the parameter; the database is never asked.
    for (uri, field) in [
        ("/sensors/1/stats?bucket=soon", "bucket"),
        ("/sensors/1/readings?from=-100000000000", "from"),
        (
            "/sensors/1/readings?cursor=72313a313a2d38303030303030303030303030303030303030",
            "cursor",
        ),
    ] {
        let (status, error) = support::get(&app, uri).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{uri}: {error}"
        );
    }
    services.drop_schema().await;
}
