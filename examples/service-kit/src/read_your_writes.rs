//! Read-your-writes over HTTP: a command's reply carries the global position of its last
//! event (`"position"`), and a query given it (`?min_position=N`, or the header
//! `X-Min-Position: N`) answers only once its read model has processed position `N`,
//! waiting at most [`ReadYourWrites::max_wait`] (default 2 s). A read model that does not
//! get there in time is answered with **503**, a `Retry-After` header and the body
//! `{"error": "not_caught_up", "message", "min_position", "processed_position"}`
//! ([`NotCaughtUpResponse`]).
//!
//! What "processed" means depends on what feeds the read model, see
//! [`cqrs_core::worker::processed`]; the wait follows the worker's progress watch (no
//! polling loop).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use axum::http::HeaderMap;
//! use cqrs_core::worker::ProcessedPosition;
//! use service_kit::read_your_writes::{min_position, ReadYourWrites};
//!
//! let (progress, watch) = tokio::sync::watch::channel(4u64);
//! let view = ProcessedPosition::from_watch("view", watch);
//! let wanted = min_position(&HeaderMap::new(), Some("min_position=4")).unwrap();
//! assert_eq!(wanted, Some(4));
//! let reads = ReadYourWrites { max_wait: Duration::from_millis(50), ..ReadYourWrites::default() };
//! assert!(reads.wait(&view, wanted).await.is_ok());
//! assert!(reads.wait(&view, Some(5)).await.is_err()); // a 503 with Retry-After
//! # drop(progress);
//! # });
//! ```

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cqrs_core::worker::{NotCaughtUp, ProcessedPosition};
use cqrs_core::{Committed, EventStore, StoreError};
use serde_json::json;

/// The query parameter.
pub const MIN_POSITION_PARAM: &str = "min_position";

/// The header, as `HeaderMap` names it (`X-Min-Position` on the wire, any case).
pub const MIN_POSITION_HEADER: HeaderName = HeaderName::from_static("x-min-position");

/// The header's name as errors and documentation spell it.
pub const MIN_POSITION_HEADER_NAME: &str = "X-Min-Position";

/// A `min_position` that is not a position (HTTP 400 naming the parameter or header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter} must be one whole number from 0 to {max}, got `{value}`", max = u64::MAX)]
pub struct InvalidMinPosition {
    /// [`MIN_POSITION_PARAM`] or [`MIN_POSITION_HEADER_NAME`].
    pub parameter: &'static str,
    /// What was sent (cut to 100 characters).
    pub value: String,
}

impl InvalidMinPosition {
    fn new(parameter: &'static str, value: &str) -> Self {
        Self {
            parameter,
            value: value.chars().take(100).collect(),
        }
    }
}

/// The position a query must reflect: the `min_position` query parameter of `query` (the
/// raw query string) and the `X-Min-Position` header; the higher when both are given,
/// `None` when neither is. A value that is not a whole number, or a parameter given twice,
/// is an error naming it.
pub fn min_position(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<u64>, InvalidMinPosition> {
    let parse = |parameter, value: &str| {
        // `u64::from_str` takes a leading `+`: a position is digits only.
        value
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| value.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| InvalidMinPosition::new(parameter, value))
    };
    let mut wanted = None;
    let mut from_query = query_values(query.unwrap_or(""), MIN_POSITION_PARAM);
    if let Some(value) = from_query.next() {
        if from_query.next().is_some() {
            return Err(InvalidMinPosition::new(
                MIN_POSITION_PARAM,
                "more than one value",
            ));
        }
        wanted = Some(parse(MIN_POSITION_PARAM, &value)?);
    }
    let mut from_header = headers.get_all(MIN_POSITION_HEADER).iter();
    if let Some(value) = from_header.next() {
        if from_header.next().is_some() {
            return Err(InvalidMinPosition::new(
                MIN_POSITION_HEADER_NAME,
                "more than one value",
            ));
        }
        let text = value
            .to_str()
            .map_err(|_| InvalidMinPosition::new(MIN_POSITION_HEADER_NAME, "not text"))?;
        let position = parse(MIN_POSITION_HEADER_NAME, text.trim())?;
        wanted = Some(wanted.map_or(position, |w: u64| w.max(position)));
    }
    Ok(wanted)
}

/// The values of parameter `name` in a raw query string (percent-decoded).
fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = String> + 'q {
    form_urlencoded::parse(query.as_bytes())
        .filter(move |(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// How long a query waits for its read model, and what a 503 tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadYourWrites {
    /// The longest a query waits for its `min_position`. Default 2 s. Keep it well below
    /// the request timeout.
    pub max_wait: Duration,
    /// What the `Retry-After` header of a 503 says (rounded up to whole seconds, at least
    /// 1). Default 1 s.
    pub retry_after: Duration,
}

impl Default for ReadYourWrites {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(2),
            retry_after: Duration::from_secs(1),
        }
    }
}

impl ReadYourWrites {
    /// Waits until `view` has processed `min_position` (at once when it is `None` or
    /// processed already), at most [`max_wait`](Self::max_wait).
    pub async fn wait(
        &self,
        view: &ProcessedPosition,
        min_position: Option<u64>,
    ) -> Result<(), NotCaughtUpResponse> {
        let Some(position) = min_position else {
            return Ok(());
        };
        match view.wait_for(position, self.max_wait).await {
            Ok(_) => Ok(()),
            Err(behind) => {
                tracing::info!(%behind, "query answered 503: its read model is behind");
                Err(NotCaughtUpResponse {
                    behind,
                    retry_after: self.retry_after,
                })
            }
        }
    }
}

/// A query's read model did not process the wanted position in time: 503 with
/// `Retry-After` and `{"error": "not_caught_up", "message", "min_position",
/// "processed_position"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{behind}")]
pub struct NotCaughtUpResponse {
    /// What the wait saw.
    pub behind: NotCaughtUp,
    /// What `Retry-After` says.
    pub retry_after: Duration,
}

impl IntoResponse for NotCaughtUpResponse {
    fn into_response(self) -> Response {
        let behind = &self.behind;
        let message = if behind.stopped {
            format!(
                "the read model has processed the log up to position {}, not yet {}, and its updater has stopped; retry later",
                behind.processed, behind.wanted
            )
        } else {
            format!(
                "the read model has processed the log up to position {}, not yet {}, within {} ms; retry later",
                behind.processed,
                behind.wanted,
                behind.waited.as_millis()
            )
        };
        let body = json!({
            "error": "not_caught_up",
            "message": message,
            "min_position": behind.wanted,
            "processed_position": behind.processed,
        });
        let seconds = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The position a command's reply carries for read-your-writes: its last event's; for a
/// command that decided nothing (an identical repeat, a no-op), the position of the last
/// event of its stream, i.e. of the state it found (read from `store`). `None` only when
/// the stream has no event.
///
/// A reader waiting for this position sees the state the command decided on, whether the
/// command wrote it or found it.
pub async fn reply_position<E>(
    committed: &Committed<E>,
    store: &dyn EventStore,
) -> Result<Option<u64>, StoreError> {
    if let Some(position) = committed.last_position() {
        return Ok(Some(position));
    }
    if committed.version == 0 {
        return Ok(None);
    }
    let found = store
        .read_stream(&committed.stream_id, committed.version)
        .await?;
    Ok(found.first().map(|event| event.position))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(MIN_POSITION_HEADER, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_position_comes_from_the_query_or_the_header() {
        let none = HeaderMap::new();
        assert_eq!(min_position(&none, None), Ok(None));
        assert_eq!(min_position(&none, Some("tier=cheap")), Ok(None));
        assert_eq!(
            min_position(&none, Some("tier=cheap&min_position=12")),
            Ok(Some(12))
        );
        assert_eq!(min_position(&header("7"), None), Ok(Some(7)));
        assert_eq!(
            min_position(&header("7"), Some("min_position=9")),
            Ok(Some(9))
        );
        assert_eq!(
            min_position(&none, Some(&format!("min_position={}", u64::MAX))),
            Ok(Some(u64::MAX))
        );
    }

    #[test]
    fn a_value_that_is_not_a_position_names_its_parameter() {
        let none = HeaderMap::new();
        for bad in ["-1", "+1", "1.5", "", "x", "18446744073709551616"] {
            let error = min_position(&none, Some(&format!("min_position={bad}"))).unwrap_err();
            assert_eq!(error.parameter, MIN_POSITION_PARAM, "{bad}");
            assert!(error.to_string().contains("min_position"), "{error}");
        }
        let error = min_position(&header("soon"), None).unwrap_err();
        assert_eq!(error.parameter, MIN_POSITION_HEADER_NAME);
        let twice = min_position(&none, Some("min_position=1&min_position=2")).unwrap_err();
        assert_eq!(twice.parameter, MIN_POSITION_PARAM);
    }

    #[tokio::test]
    async fn a_read_model_behind_is_a_503_with_retry_after() {
        let (_progress, watch) = tokio::sync::watch::channel(3u64);
        let view = ProcessedPosition::from_watch("view", watch);
        let reads = ReadYourWrites {
            max_wait: Duration::from_millis(20),
            retry_after: Duration::from_millis(1500),
        };
        assert!(reads.wait(&view, None).await.is_ok());
        assert!(reads.wait(&view, Some(3)).await.is_ok());
        let response = reads
            .wait(&view, Some(4))
            .await
            .unwrap_err()
            .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "not_caught_up");
        assert_eq!(
            (&body["min_position"], &body["processed_position"]),
            (&json!(4), &json!(3))
        );
    }
}
