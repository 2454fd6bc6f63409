//! Metrics and distributed-trace context, for operators.
//!
//! **Metrics** go through the [`metrics`](https://docs.rs/metrics) facade: the libraries
//! record them, and nothing is kept (a no-op call) until the application installs a
//! recorder, e.g. `metrics-exporter-prometheus`. Every name, its kind and its labels are in
//! [`metric`]; the names are stable.
//!
//! **Traces**: the command pipeline, the relay, the consumers and the command bus run in
//! `tracing` spans that carry the ids users search by (aggregate id, command id,
//! correlation id, event id, position). With an OpenTelemetry layer
//! (`tracing-opentelemetry`) installed, [`trace_context`] carries the W3C trace context
//! across process boundaries: the pipeline stores it in each event's
//! [`Metadata::headers`](crate::Metadata::headers), the Kafka relay and command bus put it
//! in message headers, and consumers (and the projection runners, for an event that
//! carries a context) continue the trace from there. Without such a layer the pipeline
//! stores no context and spans continue none; a context an event already carries is kept
//! (the relay passes it on to Kafka unchanged).

pub mod metric;
pub mod trace_context;
