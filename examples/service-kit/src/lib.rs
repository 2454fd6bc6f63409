//! What every example service shares, written once:
//!
//! - [`shutdown`]: wait for SIGTERM (what orchestrators send) or Ctrl-C, and bound how long
//!   the graceful stop may take;
//! - [`health`]: `GET /health/live` and `GET /health/ready`, the latter 503 naming every
//!   background worker (relay, consumer, projection) that stopped for good and every
//!   dependency (the event store) that does not answer;
//! - [`http`]: a body limit and a request timeout on every route, and JSON error bodies for
//!   the answers axum gives on its own (unknown route 404, wrong method 405, body too
//!   large 413, timeout 408);
//! - [`http_trace`]: every request in a server span (`POST /orders`) continued from the
//!   caller's `traceparent`, and its duration as a metric;
//! - [`telemetry`]: logs to stderr, OpenTelemetry trace export over OTLP/HTTP when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set, flushed at shutdown;
//! - [`metrics_endpoint`]: the Prometheus recorder and `GET /metrics`;
//! - [`idempotency`]: the `Idempotency-Key` header, as the command id of the request's
//!   command (a repeat has one effect and gets the first answer);
//! - [`read_your_writes`]: `?min_position=` / `X-Min-Position` on queries, the bounded wait
//!   for the read model, and the 503 with `Retry-After` when it is behind;
//! - [`testing`] (feature `testing`): hostile JSON for fuzz-style tests, in-process
//!   requests, a service binary run as a child process, and the PostgreSQL and Kafka a
//!   services-mode test needs (or skips without).
#![warn(missing_docs)]

pub mod health;
pub mod http;
pub mod http_trace;
pub mod idempotency;
pub mod kafka_properties;
pub mod metrics_endpoint;
pub mod read_your_writes;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use health::Health;
pub use http::{harden, HttpLimits};
