//! Shared by the integration tests: HTTP calls on a router, and the services (PostgreSQL,
//! Kafka) when they are reachable.
#![allow(dead_code)]

pub mod embedded;
pub mod services;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;

/// `GET uri` → status and JSON body.
pub async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    call(
        router,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await
}

/// `POST uri` with `body` → status and JSON body.
pub async fn post(router: &Router, uri: &str, body: impl Into<String>) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.into()))
        .expect("request");
    call(router, request).await
}

/// `POST uri` with raw `body` bytes (not necessarily UTF-8) → status and JSON body.
pub async fn post_bytes(router: &Router, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    call(router, request).await
}

async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, bytes) = service_kit::testing::oneshot::send(router, request).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// A name unique to this test run, for schemas, topics and consumer groups.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// The PostgreSQL URL, if the server answers; otherwise prints one SKIPPED line and
/// returns `None` (or panics when `CI=true`).
pub async fn database_url(test: &str) -> Option<String> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let reachable = tokio::time::timeout(Duration::from_secs(5), sqlx::PgPool::connect(&url)).await;
    match reachable {
        Ok(Ok(pool)) => {
            pool.close().await;
            Some(url)
        }
        Ok(Err(error)) => skip(
            test,
            &format!("PostgreSQL at {url} is unreachable: {error}"),
        ),
        Err(_) => skip(
            test,
            &format!("PostgreSQL at {url} did not answer within 5 s"),
        ),
    }
}

/// The Kafka brokers, if one answers on TCP; otherwise SKIPPED (or panic on CI).
pub async fn kafka_brokers(test: &str) -> Option<String> {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&first),
    )
    .await
    {
        Ok(Ok(_)) => Some(brokers),
        _ => skip(
            test,
            &format!("no Kafka broker at {brokers} (start one with scripts/start-kafka.sh)"),
        ),
    }
}

fn skip<T>(test: &str, why: &str) -> Option<T> {
    cqrs_core::testing::skip_or_fail("sensor-log services e2e", format!("{test}: {why}"));
    None
}
