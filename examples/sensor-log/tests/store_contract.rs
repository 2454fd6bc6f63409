//! The PostgreSQL store answers exactly like the in-memory one (with each bucket
//! function the server offers), so embedded mode teaches what services mode does.

mod support;

use std::sync::Arc;

use sensor_log::cursor::{ReadingsCursor, SensorsCursor};
use sensor_log::device::{decode_readings, decode_sensor, Limits};
use sensor_log::queries::SensorQueries;
use sensor_log::span::Span;
use sensor_log::store::{BucketFunction, MemoryStore, PostgresStore, SensorStore, TimeRange};
use serde_json::{json, Value};

const T0: i64 = 1_646_409_600; // 2022-03-04T16:00:00Z

/// Drives `store` through a scenario and records every answer.
async fn scenario(store: Arc<dyn SensorStore>) -> Value {
    let limits = Limits::default();
    let mut log = Vec::new();
    for meta in [
        r#"{"id": 2, "type": "pi", "location": "lab"}"#,
        r#"{"id": 5, "type": "esp32"}"#,
    ] {
        store
            .upsert_sensor(&decode_sensor(meta.as_bytes(), &limits).unwrap())
            .await
            .unwrap();
    }
    // Three days of readings of sensors 1..=4, every 7 minutes, with milliseconds.
    let mut batch = Vec::new();
    for step in 0..(3 * 24 * 60 / 7) {
        for sensor in 1..=4 {
            let ts_ms = (T0 + step * 420) * 1000 + sensor * 125;
            let temperature = ((step * 37 + sensor * 11) % 2000) as f64 / 10.0 - 50.0;
            let cpu = ((step * 13 + sensor) % 1001) as f64 / 10.0;
            batch.push(json!({"ts_ms": ts_ms, "sensor_id": sensor, "temperature": temperature, "cpu": cpu}));
        }
    }
    for chunk in batch.chunks(500) {
        let readings =
            decode_readings(Value::from(chunk.to_vec()).to_string().as_bytes(), &limits).unwrap();
        log.push(json!(store.insert_readings(&readings).await.unwrap()));
    }
    let again = decode_readings(
        Value::from(batch[..700].to_vec()).to_string().as_bytes(),
        &limits,
    )
    .unwrap();
    log.push(json!({"reinserted": store.insert_readings(&again).await.unwrap()}));
    log.push(json!({"count": store.count_readings().await.unwrap()}));

    let queries = SensorQueries::new(store.clone());
    let first = queries.sensors(None, 3).await.unwrap();
    let next = first
        .next_cursor
        .as_deref()
        .map(|c| SensorsCursor::decode(c).unwrap());
    log.push(json!([first, queries.sensors(next, 3).await.unwrap()]));

    let day = TimeRange {
        from: chrono::DateTime::from_timestamp(T0 + 86_400, 0),
        to: chrono::DateTime::from_timestamp(T0 + 2 * 86_400, 0),
    };
    let mut cursor = None;
    let mut pages = 0;
    let mut all = Vec::new();
    loop {
        let page = queries.readings(3, day, cursor, 50).await.unwrap();
        pages += 1;
        all.extend(
            page.items
                .iter()
                .map(|r| json!([r.ts, r.temperature, r.cpu])),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(ReadingsCursor::decode(&c, 3).unwrap()),
            None => break,
        }
    }
    log.push(json!({"pages": pages, "readings": all}));
    log.push(json!(queries
        .readings(42, TimeRange::default(), None, 10)
        .await
        .unwrap()));

    for bucket in ["30m", "7h", "2d"] {
        let bucket: Span = bucket.parse().unwrap();
        log.push(json!(queries
            .stats(2, TimeRange::default(), bucket)
            .await
            .unwrap()));
        log.push(json!(queries.stats(4, day, bucket).await.unwrap()));
    }
    log.push(json!(queries.latest(Span::ONE_HOUR).await.unwrap()));
    rounded(Value::from(log))
}

/// Floats rounded to 9 decimals: sums may differ in the last bits between engines.
fn rounded(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            json!((n.as_f64().unwrap_or_default() * 1e9).round() / 1e9)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, rounded(v))).collect())
        }
        other => other,
    }
}

#[tokio::test]
async fn postgres_answers_exactly_like_memory_with_every_bucket_function() {
    let Some(url) = support::database_url("store contract").await else {
        return;
    };
    let expected = scenario(Arc::new(MemoryStore::default())).await;
    assert_eq!(expected[5], json!({"reinserted": 0}));
    assert_eq!(expected[6], json!({"count": 2468}));
    assert_eq!(
        expected[8]["pages"], 5,
        "one day of a sensor every 7 minutes: 206 readings"
    );
    for function in [BucketFunction::DateBin, BucketFunction::EpochFloor] {
        let schema = support::unique("sl_contract");
        let store = PostgresStore::connect(&url, &schema)
            .await
            .unwrap()
            .with_bucket_function(function);
        let pool = store.pool().clone();
        let actual = scenario(Arc::new(store)).await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await
            .unwrap();
        for (index, (a, e)) in actual
            .as_array()
            .unwrap()
            .iter()
            .zip(expected.as_array().unwrap())
            .enumerate()
        {
            assert_eq!(a, e, "{function}: step {index} differs");
        }
        assert_eq!(actual, expected);
    }
}

#[tokio::test]
async fn start_up_is_idempotent_and_refuses_unsafe_schema_names() {
    let Some(url) = support::database_url("store start-up").await else {
        return;
    };
    let schema = support::unique("sl_startup");
    let (a, b) = tokio::join!(
        PostgresStore::connect(&url, &schema),
        PostgresStore::connect(&url, &schema)
    );
    let (a, _b) = (a.unwrap(), b.unwrap());
    assert!(matches!(
        a.bucket_function(),
        BucketFunction::DateBin | BucketFunction::TimeBucket
    ));
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(a.pool())
        .await
        .unwrap();
    assert!(PostgresStore::connect(&url, "x; DROP TABLE y")
        .await
        .is_err());
}
