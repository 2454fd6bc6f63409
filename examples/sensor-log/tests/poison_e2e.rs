//! Poison messages against the real broker and PostgreSQL: no device message, however
//! hostile, stalls the writer. Each case sends the poison first and good messages after
//! it (same key, so same partition, consumed after it), then checks that the good ones
//! are stored within seconds and the poison is in the dead-letter topic with its reason.
//!
//! Needs PostgreSQL (`DATABASE_URL`) and a Kafka broker (`KAFKA_BROKERS`); without them
//! it prints `SKIPPED ...` and passes, unless `CI=true`.

mod support;

use std::time::Duration;

use cqrs_core::FailureKind;
use cqrs_kafka::KafkaConfig;
use sensor_log::device::SensorInfo;
use sensor_log::ingest::kafka::spawn_writer;
use sensor_log::store::{SensorStore, StoreError};
use serde_json::json;
use support::services::{eventually, Services, T0};

/// How long a good message sent after a poison one may take to be stored. The writer
/// joins its consumer group within this too (a few seconds on tansu).
const WITHIN: Duration = Duration::from_secs(20);

async fn sensor(services: &Services, id: i64) -> Option<SensorInfo> {
    let sensors = services
        .store
        .sensors(Some(id - 1), 1)
        .await
        .expect("sensors");
    sensors.into_iter().find(|s| s.id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_sensor_metadata_is_dead_lettered_and_the_messages_after_it_are_stored() {
    let Some(services) = Services::start("nul metadata").await else {
        return;
    };
    let poison = br#"{"id": 5, "type": "a\u0000b", "location": "lab"}"#;
    let good_meta = br#"{"id": 6, "type": "pi", "location": "greenhouse"}"#;
    let good_reading = json!([{"ts": T0, "sensor_id": 6, "temperature": 21.5, "cpu": 3}]);
    let topics = &services.topics;
    services
        .produce_keyed(&topics.sensors, "device-5", &[poison, good_meta])
        .await;
    services
        .produce_keyed(
            &topics.readings,
            "device-5",
            &[good_reading.to_string().as_bytes()],
        )
        .await;

    let writer = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("nul"),
        services.ingestor(),
    )
    .expect("writer");
    let took = eventually(WITHIN, || async {
        services.rows().await == 1
            && sensor(&services, 6).await.and_then(|s| s.location) == Some("greenhouse".into())
    })
    .await;
    assert!(
        took.is_some(),
        "the good metadata and reading sent after the NUL were not stored within {WITHIN:?}: {:?}",
        writer.progress()
    );
    eprintln!("good messages after the NUL stored {took:?} after the writer started");
    let stats = writer
        .wait_for(WITHIN, |stats| stats.processed() >= 3)
        .await
        .expect("processed");
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
    assert_eq!(
        sensor(&services, 5).await,
        None,
        "nothing of the poison is stored"
    );
    writer.shutdown().await.expect("shutdown");

    let letters = services.dead_letters(1).await;
    let (body, stage, reason) = &letters[0];
    assert_eq!(
        body["type"], "a\u{0}b",
        "the dead letter is the original message"
    );
    assert_eq!(stage, "handler");
    // Refused by validation (layer a), before the database is asked.
    assert!(
        reason.contains("control_character at type: holds the control character U+0000"),
        "{reason}"
    );
    services.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_postgres_refuses_for_good_are_dead_lettered_alone_and_the_rest_is_stored() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(services) = Services::start("refused rows").await else {
        return;
    };
    // Operator rules validation cannot know about: PostgreSQL refuses these rows for good
    // (SQLSTATE 23514, check_violation), however often they are retried.
    for rule in [
        "ALTER TABLE readings ADD CONSTRAINT no_sensor_13 CHECK (sensor_id <> 13)",
        "ALTER TABLE sensors ADD CONSTRAINT no_quarantine CHECK (location IS DISTINCT FROM 'quarantine')",
    ] {
        sqlx::query(rule)
            .execute(services.store.pool())
            .await
            .expect("constraint");
    }
    let reading = |sensor: i64, minute: i64| {
        json!([{"ts": T0 + minute * 60, "sensor_id": sensor, "temperature": 20, "cpu": 5}])
            .to_string()
    };
    let readings = [reading(1, 0), reading(13, 1), reading(1, 2), reading(1, 3)];
    let readings: Vec<&[u8]> = readings.iter().map(|m| m.as_bytes()).collect();
    let topics = &services.topics;
    // Produced before the writer starts: the four readings messages arrive as one batch,
    // whose single insert statement PostgreSQL refuses.
    services
        .produce_keyed(&topics.readings, "device-1", &readings)
        .await;
    services
        .produce_keyed(
            &topics.sensors,
            "device-20",
            &[
                br#"{"id": 20, "location": "quarantine"}"#,
                br#"{"id": 21, "location": "lab"}"#,
            ],
        )
        .await;

    let writer = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("refused"),
        services.ingestor(),
    )
    .expect("writer");
    let stats = writer
        .wait_for(WITHIN, |stats| stats.processed() >= 6)
        .await
        .expect("every message handled or dead-lettered, none retried forever");
    assert_eq!(stats.dead_lettered, 2, "{stats:?}");
    assert_eq!(services.rows().await, 3, "the other readings are stored");
    assert_eq!(
        sensor(&services, 21).await.and_then(|s| s.location),
        Some("lab".into())
    );
    writer.shutdown().await.expect("shutdown");

    let letters = services.dead_letters(2).await;
    let refused_reading = letters
        .iter()
        .find(|(body, _, _)| body[0]["sensor_id"] == 13)
        .unwrap_or_else(|| panic!("no dead letter for sensor 13: {letters:#?}"));
    assert!(
        refused_reading.2.contains("SQLSTATE 23514"),
        "{refused_reading:?}"
    );
    let refused_sensor = letters
        .iter()
        .find(|(body, _, _)| body["id"] == 20)
        .unwrap_or_else(|| panic!("no dead letter for sensor 20: {letters:#?}"));
    assert!(
        refused_sensor.2.contains("SQLSTATE 23514"),
        "{refused_sensor:?}"
    );
    services.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_unvalidated_text_is_a_permanent_store_error() {
    let Some(services) = Services::start("store refusal").await else {
        return;
    };
    // What validation would refuse, handed to the store directly.
    let unvalidated = SensorInfo {
        id: 5,
        kind: Some("a\u{0}b".into()),
        location: None,
    };
    let error = services
        .store
        .upsert_sensor(&unvalidated)
        .await
        .expect_err("PostgreSQL refuses NUL in text");
    assert!(
        matches!(&error, StoreError::Refused { code: Some(code), .. } if code == "22021"),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert!(error.is_bad_input());
    services.drop_schema().await;
}

/// The ~13 MB message is refused as oversized, and the dead-letter topic refuses it too
/// (`MessageSizeTooLarge` from the producer): the consumer dead-letters a bounded copy (a
/// prefix of the value, the reason, the original topic) instead of retrying forever, and the
/// reading sent after it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_dead_lettered_and_the_reading_after_it_is_stored() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(services) = Services::start("oversized").await else {
        return;
    };
    let pad = "x".repeat(13 * 1024 * 1024);
    let big =
        json!([{"ts": T0, "sensor_id": 9, "temperature": 1, "cpu": 1, "pad": pad}]).to_string();
    let good = json!([{"ts": T0, "sensor_id": 1, "temperature": 20, "cpu": 5}]).to_string();
    services
        .produce_keyed(
            &services.topics.readings,
            "device-9",
            &[big.as_bytes(), good.as_bytes()],
        )
        .await;

    let writer = spawn_writer(
        KafkaConfig::new(&services.brokers),
        services.writer_config("oversized"),
        services.ingestor(),
    )
    .expect("writer");
    let took = eventually(WITHIN, || async { services.rows().await == 1 }).await;
    let stats = writer.progress();
    assert!(
        took.is_some(),
        "the reading sent after a 13 MiB message was not stored within {WITHIN:?}: {stats:?}"
    );
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
    writer.shutdown().await.expect("shutdown");

    let records = services.dead_letter_records(1).await;
    let letter = &records[0];
    let reason = letter.header(cqrs_kafka::headers::DLQ_ERROR);
    assert!(reason.contains("oversized"), "{reason}");
    assert_eq!(
        letter.header(cqrs_kafka::headers::DLQ_ORIGINAL_TOPIC),
        services.topics.readings
    );
    assert!(
        letter.payload.len() < big.len() && big.as_bytes().starts_with(&letter.payload),
        "the dead letter holds a bounded prefix of the value ({} bytes)",
        letter.payload.len()
    );
    services.drop_schema().await;
}
