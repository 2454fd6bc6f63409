//! One request to a router in process (no socket), the status and the reply: what every
//! example's HTTP tests send.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Sends `request` to `router`; the status and the raw reply body.
pub async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("a router never fails");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body is readable")
        .to_bytes();
    (status, bytes.to_vec())
}

/// `method uri` with `body` (raw bytes, sent as `application/json` when not empty).
pub async fn send_bytes(
    router: &Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    send(
        router,
        request.body(Body::from(body)).expect("a valid request"),
    )
    .await
}

/// Like [`send_bytes`] with a JSON value (or no body); the reply parsed, `Null` when it is
/// empty or not JSON.
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (status, reply) = send_bytes(router, method, uri, bytes).await;
    (
        status,
        serde_json::from_slice(&reply).unwrap_or(Value::Null),
    )
}

/// Like [`call`] with extra request `headers`; the status, the reply's headers and the
/// reply parsed (`Null` when it is empty or not JSON).
pub async fn call_with_headers(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &[u8])],
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("a header value without CR or LF");
        request = request.header(*name, value);
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).expect("a valid request"))
        .await
        .expect("a router never fails");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body is readable")
        .to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Asserts that a request was refused naming `field`: 400 or 422, with the examples' JSON
/// error body (`error` and `message` strings, `field` the offending field).
#[track_caller]
pub fn assert_refused_naming(status: impl Into<u16>, reply: &Value, field: &str) {
    let status = status.into();
    assert!(
        status == 400 || status == 422,
        "expected 400/422 naming {field}, got {status} {reply}"
    );
    assert_eq!(reply["field"], field, "{reply}");
    assert!(
        reply["error"].is_string() && reply["message"].is_string(),
        "{reply}"
    );
}
