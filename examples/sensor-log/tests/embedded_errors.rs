//! Embedded mode's error contract: 400 naming the field, 404, 405, 413, 422, 503, 500, and
//! the health endpoints.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::Router;
use chrono::{DateTime, Utc};
use sensor_log::api::{router, AppState};
use sensor_log::device::SensorInfo;
use sensor_log::ingest::Ingestor;
use sensor_log::queries::SensorQueries;
use sensor_log::reading::{Reading, SensorId};
use sensor_log::span::Span;
use sensor_log::store::{
    BucketStats, LatestReading, MemoryStore, SensorStore, StoreError, TimeRange,
};
use serde_json::{json, Value};
use support::embedded::{embedded, feed_an_hour, reading, T0};
use support::{get, post};

#[tokio::test]
async fn malformed_device_messages_get_400_naming_the_field_and_store_nothing() {
    let app = embedded();
    let half_bad = Value::from(vec![
        reading(1, T0, 20.0, 5.0),
        reading(1, T0 + 60, 20.0, 101.0),
    ]);
    for (body, code, field) in [
        (half_bad.to_string(), "out_of_range", Some("[1].cpu")),
        ("[{\"ts\": 1".to_owned(), "invalid_json", None),
        (
            r#"[{"ts": 1646409600, "sensor_id": 1, "cpu": 5}]"#.to_owned(),
            "missing_field",
            Some("[0].temperature"),
        ),
        (
            r#"[{"ts": 1646409600, "sensor_id": 1, "temperature": "hot", "cpu": 5}]"#.to_owned(),
            "wrong_type",
            Some("[0].temperature"),
        ),
        (
            r#"[{"ts": 1646409600000, "sensor_id": 1, "temperature": 1, "cpu": 5}]"#.to_owned(),
            "timestamp_unit",
            Some("[0].ts"),
        ),
        (format!("[{}]", " ".repeat(1 << 20)), "oversized", None),
    ] {
        let (status, error) = post(&app, "/ingest/readings", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"], code, "{error}");
        assert_eq!(error["field"].as_str(), field, "{error}");
    }
    let (_, sensors) = get(&app, "/sensors").await;
    assert_eq!(
        sensors["items"],
        json!([]),
        "nothing of a rejected message is stored"
    );

    let (status, error) = post(&app, "/ingest/sensors", r#"{"id": -1}"#).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id"))
    );
}

#[tokio::test]
async fn bad_query_parameters_get_400_naming_the_parameter() {
    let app = embedded();
    feed_an_hour(&app).await;
    for (uri, field) in [
        ("/sensors?limit=0", "limit"),
        ("/sensors?limit=abc", "limit"),
        ("/sensors?cursor=nonsense", "cursor"),
        ("/sensors?offset=10", "offset"),
        ("/sensors/abc/readings", "id"),
        ("/sensors/0/readings", "id"),
        ("/sensors/1/readings?from=yesterday", "from"),
        (
            "/sensors/1/readings?from=2022-03-04T17:00:00Z&to=2022-03-04T16:00:00Z",
            "to",
        ),
        ("/sensors/1/readings?limit=10001", "limit"),
        ("/sensors/1/readings?limit=1&limit=2", "limit"),
        ("/sensors/1/stats?bucket=30", "bucket"),
        ("/sensors/1/stats?bucket=0m", "bucket"),
        ("/sensors/latest?window=forever", "window"),
        // Times PostgreSQL cannot store (it answered 503 to these): 400 naming them.
        ("/sensors/1/readings?from=-100000000000", "from"),
        ("/sensors/1/stats?to=300000000000", "to"),
        ("/sensors/1/readings?id=1&to=9223372036854775807", "id"),
        ("/sensors/9223372036854775808/readings", "id"),
        (
            "/sensors/1/readings?cursor=72313a313a2d38303030303030303030303030303030303030",
            "cursor",
        ),
    ] {
        let (status, error) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {error}");
        assert_eq!(error["error"], "invalid_input", "{uri}");
        assert_eq!(error["field"], field, "{uri}: {error}");
    }
    // A cursor of sensor 1 is not valid for sensor 2.
    let (_, page) = get(&app, "/sensors/1/readings?limit=1").await;
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let (status, error) = get(&app, &format!("/sensors/2/readings?cursor={cursor}")).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("cursor"))
    );
}

#[tokio::test]
async fn echoed_client_text_is_bounded_and_printable() {
    let app = embedded();
    let long = "z".repeat(5_000);
    for uri in [
        format!("/sensors?{long}=1"),
        format!("/sensors/1/readings?from={long}"),
        format!("/sensors/{long}/readings"),
        format!("/sensors/1/stats?bucket={long}"),
        "/sensors/1/readings?from=%00%1b%5b31m".to_owned(),
    ] {
        let (status, error) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let message = error["message"].as_str().expect("message");
        assert!(message.chars().count() < 300, "{message}");
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_large_bodies_get_json_errors() {
    let app = embedded();
    let (status, error) = get(&app, "/nope").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, error) = post(&app, "/sensors", "{}").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    // Up to twice the message limit the validator answers, naming the limit; beyond, 413.
    let (status, error) = post(&app, "/ingest/readings", " ".repeat(3 << 20)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (status, error) = post(&app, "/ingest/readings", " ".repeat(3 << 19)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("oversized"))
    );
}

#[tokio::test]
async fn health_endpoints_answer_in_both_modes() {
    let store: Arc<dyn SensorStore> = Arc::new(MemoryStore::default());
    let queries_only = router(AppState {
        queries: SensorQueries::new(store),
        ingestor: None,
    });
    for app in [embedded(), queries_only] {
        let (status, live) = get(&app, "/health/live").await;
        assert_eq!(
            (status, live["status"].as_str()),
            (StatusCode::OK, Some("live"))
        );
        let (status, ready) = get(&app, "/health/ready").await;
        assert_eq!(
            (status, ready["status"].as_str()),
            (StatusCode::OK, Some("ready"))
        );
    }
}

/// A store whose every call fails with `failure()`.
struct DownStore {
    failure: fn() -> StoreError,
}

/// The text of the driver error, which must never reach a client.
const DRIVER_TEXT: &str = "host db-7.internal user sensor_admin";

fn unavailable() -> StoreError {
    StoreError::Unavailable {
        operation: "anything".into(),
        source: sqlx::Error::Protocol(DRIVER_TEXT.into()),
    }
}

fn refused() -> StoreError {
    StoreError::Refused {
        operation: "anything".into(),
        code: Some("22021".into()),
        source: sqlx::Error::Protocol(DRIVER_TEXT.into()),
    }
}

fn broken() -> StoreError {
    StoreError::Refused {
        operation: "anything".into(),
        code: Some("42P01".into()),
        source: sqlx::Error::Protocol(DRIVER_TEXT.into()),
    }
}

impl DownStore {
    fn fail<T>(&self) -> Result<T, StoreError> {
        Err((self.failure)())
    }
}

#[async_trait]
impl SensorStore for DownStore {
    async fn insert_readings(&self, _: &[Reading]) -> Result<u64, StoreError> {
        self.fail()
    }
    async fn upsert_sensor(&self, _: &SensorInfo) -> Result<(), StoreError> {
        self.fail()
    }
    async fn sensors(&self, _: Option<SensorId>, _: usize) -> Result<Vec<SensorInfo>, StoreError> {
        self.fail()
    }
    async fn readings(
        &self,
        _: SensorId,
        _: TimeRange,
        _: Option<DateTime<Utc>>,
        _: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        self.fail()
    }
    async fn stats(
        &self,
        _: SensorId,
        _: TimeRange,
        _: Span,
        _: usize,
    ) -> Result<Vec<BucketStats>, StoreError> {
        self.fail()
    }
    async fn latest(&self, _: Span) -> Result<Vec<LatestReading>, StoreError> {
        self.fail()
    }
    async fn count_readings(&self) -> Result<u64, StoreError> {
        self.fail()
    }
}

fn failing(failure: fn() -> StoreError) -> Router {
    let store: Arc<dyn SensorStore> = Arc::new(DownStore { failure });
    router(AppState {
        queries: SensorQueries::new(store.clone()),
        ingestor: Some(Ingestor::new(store)),
    })
}

/// Every route, each failing in the store.
async fn answers(app: &Router) -> Vec<(String, StatusCode, Value)> {
    let mut answers = Vec::new();
    for uri in [
        "/sensors",
        "/sensors/latest",
        "/sensors/1/readings",
        "/sensors/1/stats",
    ] {
        let (status, body) = get(app, uri).await;
        answers.push((uri.to_owned(), status, body));
    }
    let message = Value::from(vec![reading(1, T0, 1.0, 1.0)]).to_string();
    let (status, body) = post(app, "/ingest/readings", message).await;
    answers.push(("/ingest/readings".to_owned(), status, body));
    let (status, body) = post(app, "/ingest/sensors", r#"{"id": 1, "type": "pi"}"#).await;
    answers.push(("/ingest/sensors".to_owned(), status, body));
    answers
}

#[tokio::test]
async fn store_failures_map_to_503_422_or_500_without_driver_text() {
    for (failure, status, code) in [
        (
            unavailable as fn() -> StoreError,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        ),
        (refused, StatusCode::UNPROCESSABLE_ENTITY, "refused"),
        (broken, StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    ] {
        let app = failing(failure);
        for (uri, got, body) in answers(&app).await {
            assert_eq!(
                (got, body["error"].as_str()),
                (status, Some(code)),
                "{uri}: {body}"
            );
            assert!(!body.to_string().contains("db-7"), "{uri}: {body}");
        }
        // Validation comes first: a malformed message is still a 400.
        let (got, _) = post(&app, "/ingest/readings", "[]").await;
        assert_eq!(got, StatusCode::BAD_REQUEST);
    }
}
