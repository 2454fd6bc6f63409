//! One order placed over HTTP on the order service is one trace across both services,
//! exported over OTLP (`OTEL_EXPORTER_OTLP_ENDPOINT`) to a receiver in this test:
//!
//! `POST /orders` (order) → `command` → `append` → `relay publish` → `consume`
//! (inventory) → `saga` → `command send` → `command process` (order) → `command` →
//! `append`, each span the parent of the next (spans in between are allowed), with the
//! ids users search by on them.
//!
//! The request carries a W3C `traceparent`, so the trace id is known beforehand and the
//! order service's server span must continue it. Needs PostgreSQL and Kafka; prints
//! SKIPPED without them unless `CI=true`. See `support/two_services.rs` for how the
//! services run.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use service_kit::testing::process::{free_address, post, wait_for};
use service_kit::testing::services::Services;
use support::http_client::request_with_headers;
use support::otlp::{OtlpReceiver, ReceivedSpan};
use support::two_services::{decided, expect_status, OwnDatabase, Run};

/// From the order service's last `append` up to the request, the spans that must be
/// ancestors in this order (service, span name).
const CHAIN_UPWARDS: [(&str, &str); 10] = [
    ("order", "append"),
    ("order", "command"),
    ("order", "command process"),
    ("inventory", "command send"),
    ("inventory", "saga"),
    ("inventory", "consume"),
    ("order", "relay publish"),
    ("order", "append"),
    ("order", "command"),
    ("order", "POST /orders"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_order_is_one_trace_across_both_services() {
    let Some(services) = Services::reachable_or_skip("two_services_trace") else {
        return;
    };
    let receiver = OtlpReceiver::start().await;
    let id = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let database = OwnDatabase::create(&services.database_url, format!("tr{id}_inventory")).await;
    let run = Run {
        id,
        inventory_database_url: database.url.clone(),
        services,
        extra_env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ],
    };
    let (orders_at, inventory_at) = (free_address(), free_address());
    let _order_service = run.order_service(orders_at);
    let _inventory = run.inventory_service(inventory_at);
    let ready = Duration::from_secs(60);
    wait_for(orders_at, "/health/ready", 200, ready);
    wait_for(inventory_at, "/health/ready", 200, ready);
    let product = json!({ "sku": "lamp", "name": "Lamp" }).to_string();
    expect_status(
        post(inventory_at, "/products", &product),
        &[201],
        "register",
    );
    let stock = json!({ "qty": 1 }).to_string();
    expect_status(
        post(inventory_at, "/products/lamp/stock", &stock),
        &[200, 201],
        "receive stock",
    );

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let order = json!({
        "order_id": "traced-1",
        "customer_id": "c1",
        "items": [{"sku": "lamp", "label": "Lamp", "unit_price": 1500, "quantity": 1}],
    })
    .to_string();
    let placed = request_with_headers(
        orders_at,
        "POST",
        "/orders",
        &[("traceparent", &traceparent)],
        Some(&order),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.raw_body);
    let decided_by = Instant::now() + Duration::from_secs(30);
    let order = loop {
        if let Some(order) = decided(orders_at, "traced-1") {
            break order;
        }
        assert!(Instant::now() < decided_by, "the order was never decided");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(order["confirmed"], true, "{order}");

    // Spans are exported in batches (every 100 ms here): wait for the whole chain.
    let exported_by = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = receiver.trace(&trace_id);
        if chain_upwards(&spans).is_ok() {
            break spans;
        }
        if Instant::now() > exported_by {
            let error = chain_upwards(&spans).unwrap_err();
            panic!(
                "{error}\nspans of trace {trace_id} ({} of {} received):\n{}",
                spans.len(),
                receiver.received(),
                describe(&spans)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "two_services_trace: trace {trace_id}:\n{}",
        describe(&spans)
    );
    let chain = chain_upwards(&spans).expect("found above");

    let request = chain[9];
    assert_eq!(
        request.parent_span_id, caller_span,
        "the server span continues the caller's traceparent"
    );
    let place = chain[8];
    assert_eq!(
        place.attribute("aggregate_id"),
        Some("traced-1"),
        "{place:?}"
    );
    assert!(place.attribute("command_id").is_some(), "{place:?}");
    assert!(place.attribute("correlation_id").is_some(), "{place:?}");
    let consume = chain[5];
    for field in ["event_id", "position", "topic"] {
        assert!(consume.attribute(field).is_some(), "{field} on {consume:?}");
    }
    let confirm = chain[1];
    assert_eq!(
        confirm.attribute("aggregate_id"),
        Some("traced-1"),
        "{confirm:?}"
    );
    assert_eq!(
        chain[2].attribute("command_id"),
        confirm.attribute("command_id"),
        "the processor's span names the command it runs"
    );
}

/// The ancestors of the order service's last `append` that match [`CHAIN_UPWARDS`] in
/// order, or what is missing.
fn chain_upwards(spans: &[ReceivedSpan]) -> Result<Vec<&ReceivedSpan>, String> {
    let by_id: HashMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut best = Vec::new();
    for leaf in spans
        .iter()
        .filter(|s| s.name == "append" && s.service == "order")
    {
        let mut found = Vec::new();
        let mut wanted = CHAIN_UPWARDS.iter().peekable();
        let mut at = Some(leaf);
        while let (Some(span), Some((service, name))) = (at, wanted.peek()) {
            if span.service == *service && span.name == *name {
                found.push(span);
                wanted.next();
            }
            at = by_id.get(span.parent_span_id.as_str()).copied();
        }
        if found.len() == CHAIN_UPWARDS.len() {
            return Ok(found);
        }
        if found.len() > best.len() {
            best = found;
        }
    }
    Err(format!(
        "no chain {CHAIN_UPWARDS:?}; the longest found upwards: {:?}",
        best.iter()
            .map(|s| (&s.service, &s.name))
            .collect::<Vec<_>>()
    ))
}

fn describe(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "  {} {:?} span {} parent {}",
                s.service, s.name, s.span_id, s.parent_span_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
