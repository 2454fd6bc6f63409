//! Embedded mode end to end: device messages POSTed in, every query endpoint out.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use support::embedded::{embedded, feed_an_hour, reading, T0};
use support::{get, post};

fn numbers(page: &Value, field: &str) -> Vec<f64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r[field].as_f64().expect("number"))
        .collect()
}

#[tokio::test]
async fn readings_are_paged_by_keyset_until_the_last_page() {
    let app = embedded();
    feed_an_hour(&app).await;
    let mut seen = Vec::new();
    let mut uri = "/sensors/1/readings?limit=25".to_owned();
    loop {
        let (status, page) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(numbers(&page, "cpu"));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/sensors/1/readings?limit=25&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..60).map(f64::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_page_cursor_stays_exact_while_new_readings_arrive() {
    let app = embedded();
    feed_an_hour(&app).await;
    let (_, first) = get(&app, "/sensors/1/readings?limit=10").await;
    // A late reading older than the cursor and a new one after the last.
    let late = Value::from(vec![
        reading(1, T0 - 60, 0.0, 99.0),
        reading(1, T0 + 3600, 0.0, 98.0),
    ]);
    post(&app, "/ingest/readings", late.to_string()).await;
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = get(
        &app,
        &format!("/sensors/1/readings?limit=10&cursor={cursor}"),
    )
    .await;
    assert_eq!(
        numbers(&second, "cpu"),
        (10..20).map(f64::from).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn readings_respect_from_inclusive_and_to_exclusive() {
    let app = embedded();
    feed_an_hour(&app).await;
    let uri = format!(
        "/sensors/1/readings?from={}&to=2022-03-04T16:13:00Z",
        T0 + 600
    );
    let (status, page) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(numbers(&page, "cpu"), vec![10.0, 11.0, 12.0]);
    assert_eq!(page["items"][0]["ts"], "2022-03-04T16:10:00Z");
    assert_eq!(page["items"][0]["sensor_id"], 1);
}

#[tokio::test]
async fn stats_are_computed_per_epoch_aligned_bucket() {
    let app = embedded();
    feed_an_hour(&app).await;
    let (status, stats) = get(&app, "/sensors/1/stats?bucket=30m").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["bucket"], "30m");
    let buckets = stats["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0]["bucket_start"], "2022-03-04T16:00:00Z");
    assert_eq!(buckets[0]["count"], 30);
    assert_eq!(
        buckets[0]["temperature"],
        json!({"avg": 4.5, "min": -10.0, "max": 19.0})
    );
    assert_eq!(buckets[1]["bucket_start"], "2022-03-04T16:30:00Z");
    assert_eq!(
        buckets[1]["cpu"],
        json!({"avg": 44.5, "min": 30.0, "max": 59.0})
    );

    let (_, hourly) = get(&app, "/sensors/1/stats?bucket=1h&from=2022-03-04T16:15:00Z").await;
    assert_eq!(hourly["buckets"][0]["count"], 45);
}

#[tokio::test]
async fn sensors_include_unregistered_ones_and_are_paged() {
    let app = embedded();
    let (status, _) = post(
        &app,
        "/ingest/sensors",
        r#"{"id": 2, "type": "pi", "location": "lab"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let batch = Value::from(vec![reading(3, T0, 20.0, 1.0), reading(1, T0, 20.0, 1.0)]);
    post(&app, "/ingest/readings", batch.to_string()).await;

    let (_, first) = get(&app, "/sensors?limit=2").await;
    assert_eq!(
        first["items"],
        json!([{"id": 1, "type": null, "location": null}, {"id": 2, "type": "pi", "location": "lab"}])
    );
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = get(&app, &format!("/sensors?limit=2&cursor={cursor}")).await;
    assert_eq!(
        second["items"],
        json!([{"id": 3, "type": null, "location": null}])
    );
    assert_eq!(second["next_cursor"], Value::Null);

    // Metadata arriving later fills in the unregistered sensor.
    post(
        &app,
        "/ingest/sensors",
        r#"{"id": 3, "type": "esp32", "location": "roof"}"#,
    )
    .await;
    let (_, all) = get(&app, "/sensors").await;
    assert_eq!(
        all["items"][2],
        json!({"id": 3, "type": "esp32", "location": "roof"})
    );
}

#[tokio::test]
async fn latest_gives_each_sensors_last_reading_and_window_average() {
    let app = embedded();
    feed_an_hour(&app).await;
    post(
        &app,
        "/ingest/readings",
        Value::from(vec![reading(2, T0, 50.0, 5.0)]).to_string(),
    )
    .await;
    let (status, latest) = get(&app, "/sensors/latest?window=10m").await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest[0]["sensor_id"], 1);
    assert_eq!(latest[0]["ts"], "2022-03-04T16:59:00Z");
    assert_eq!(latest[0]["cpu"], 59.0);
    // Readings in (16:49, 16:59]: minutes 50..=59.
    assert_eq!(
        latest[0]["average"],
        json!({"window": "10m", "count": 10, "temperature": 44.5, "cpu": 54.5})
    );
    assert_eq!(latest[1]["sensor_id"], 2);
    assert_eq!(latest[1]["average"]["count"], 1);
}

#[tokio::test]
async fn redelivered_messages_store_nothing_twice() {
    let app = embedded();
    feed_an_hour(&app).await;
    let again: Vec<Value> = (0..60)
        .map(|m| reading(1, T0 + m * 60, 99.0, 99.0))
        .collect();
    let (_, body) = post(&app, "/ingest/readings", Value::from(again).to_string()).await;
    assert_eq!(body, json!({"received": 60, "stored": 0}));
    let (_, page) = get(&app, "/sensors/1/readings?limit=1").await;
    assert_eq!(
        page["items"][0]["temperature"], -10.0,
        "the first reading stays"
    );
}
