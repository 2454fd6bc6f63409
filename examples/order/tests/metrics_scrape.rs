//! `GET /metrics` of the order service in services mode (PostgreSQL, relay, Kafka-fed
//! view) after a scripted run shows what the run implies: the commands by outcome, the
//! conflicts forced by concurrent commands on one order (each one cost a reload), the
//! events appended, published and handled, one dead-lettered message, the relay's lag
//! back at 0 once caught up, the Kafka-fed price-tier view's position (per partition) at
//! the last event appended and its lag at 0 on every partition, and every worker up as
//! leader.
//!
//! Its own test binary: the metrics recorder is one per process. Needs PostgreSQL and
//! Kafka; prints SKIPPED without them unless `CI=true`.

use std::time::Duration;

use axum::http::StatusCode;
use cqrs_core::testing::scraped;
use order::views::PgPriceTiers;
use order::{OrderServices, ServicesConfig};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use service_kit::testing::oneshot::call;
use service_kit::testing::services::Services;

const ORDERS: usize = 10;
/// Concurrent payments of one order per round: one commits, the others conflict or are
/// refused (already paid).
const RACERS: usize = 16;
/// The partitions of the events topic (the view's shards).
const SHARDS: [&str; 3] = ["0", "1", "2"];

async fn scrape(api: &axum::Router) -> String {
    let (status, body) = call_text(api, "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn call_text(api: &axum::Router, uri: &str) -> (StatusCode, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = api.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scraped(text, name, labels).unwrap_or(0.0)
}

/// Commands of every outcome, loads and conflicts of the Order aggregate so far.
fn pipeline_counts(text: &str) -> (f64, f64, f64) {
    let commands = value(
        text,
        "cqrs_command_duration_seconds_count",
        &[("aggregate", "Order")],
    );
    let loads = value(
        text,
        "cqrs_load_duration_seconds_count",
        &[("store", "postgres")],
    );
    let conflicts = value(
        text,
        "cqrs_command_conflicts_total",
        &[("aggregate", "Order")],
    );
    (commands, loads, conflicts)
}

async fn eventually(api: &axum::Router, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape(api).await;
        if check(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn place(id: &str) -> Value {
    json!({
        "order_id": id,
        "customer_id": "dana",
        "items": [{"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 1}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metrics_endpoint_shows_what_a_scripted_run_did() {
    let Some(services_at) = Services::reachable_or_skip("order metrics scrape") else {
        return;
    };
    // Installed before anything records, as the binary does at start.
    service_kit::metrics_endpoint::install().expect("the test binary's only recorder");
    let run = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let mut config = ServicesConfig::new(&services_at.database_url, &services_at.kafka_brokers);
    let (event_schema, view_schema) = (
        format!("order_m{run}_events"),
        format!("order_m{run}_views"),
    );
    config.event_schema = event_schema.clone();
    config.view_schema = view_schema.clone();
    config.topic_prefix = format!("m{run}.");
    config.group_id = format!("order-m{run}");
    config.command_group_id = format!("order-m{run}-commands");
    let events_topic = format!("m{run}.Order");
    let services = OrderServices::start(config).await.expect("services start");
    let api = order::http::router(services.app_state());

    for n in 0..ORDERS {
        let (status, reply) = call(&api, "POST", "/orders", Some(place(&format!("o{n}")))).await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
    }
    let (status, _) = call(&api, "POST", "/orders/o0/ship", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "an unpaid order cannot ship");
    let text = scrape(&api).await;
    let outcome = |text: &str, outcome| {
        value(
            text,
            "cqrs_command_duration_seconds_count",
            &[("aggregate", "Order"), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome(&text, "committed"), ORDERS as f64);
    assert_eq!(outcome(&text, "rejected"), 1.0);
    assert_eq!(
        value(
            &text,
            "cqrs_appended_events_total",
            &[("store", "postgres")]
        ),
        ORDERS as f64
    );
    let (commands, loads, conflicts) = pipeline_counts(&text);
    assert_eq!(
        (commands, loads, conflicts),
        ((ORDERS + 1) as f64, (ORDERS + 1) as f64, 0.0)
    );

    // Concurrent payments of one order: every conflict costs one more load, so the
    // conflicts counted are exactly the loads beyond one per command. Rounds until the
    // race produced a conflict.
    let mut paid = 0;
    let mut conflicted = 0.0;
    for round in 0..5 {
        let id = format!("race{round}");
        let (status, _) = call(&api, "POST", "/orders", Some(place(&id))).await;
        assert_eq!(status, StatusCode::CREATED);
        let before = pipeline_counts(&scrape(&api).await);
        let racing: Vec<_> = (0..RACERS)
            .map(|_| {
                let (api, uri) = (api.clone(), format!("/orders/{id}/pay"));
                tokio::spawn(async move { call(&api, "POST", &uri, None).await.0 })
            })
            .collect();
        let mut statuses = Vec::new();
        for racer in racing {
            statuses.push(racer.await.unwrap());
        }
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CREATED)
                .count(),
            1,
            "exactly one payment commits: {statuses:?}"
        );
        paid += 1;
        let after = pipeline_counts(&scrape(&api).await);
        let (commands, loads, conflicts) =
            (after.0 - before.0, after.1 - before.1, after.2 - before.2);
        assert_eq!(commands, RACERS as f64);
        assert_eq!(
            conflicts,
            loads - commands,
            "round {round}: {after:?} after {before:?}"
        );
        conflicted += conflicts;
        if conflicts > 0.0 {
            break;
        }
    }
    assert!(
        conflicted > 0.0,
        "{RACERS} concurrent payments never conflicted in 5 rounds"
    );

    // A message that is not an event, on the events topic, then one more order behind it.
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &services_at.kafka_brokers)
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(&events_topic)
                .key("Order-late")
                .payload("not an event"),
            Duration::from_secs(10),
        )
        .await
        .expect("poison message produced");
    let (status, late) = call(&api, "POST", "/orders", Some(place("late"))).await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    // The last command: its event is the highest position appended.
    let head = late["position"].as_u64().expect("the reply's position") as f64;
    let view = |text: &str, name: &str, shard: &str| {
        scraped(
            text,
            name,
            &[("projection", PgPriceTiers::NAME), ("shard", shard)],
        )
    };

    // Orders o0..o9, one order and one payment per race round, the late order.
    let events = (ORDERS + 2 * paid + 1) as f64;
    let topic = [("topic", events_topic.as_str()), ("outcome", "handled")];
    let text = eventually(
        &api,
        "every event published and handled, the relay and the view caught up",
        |text| {
            value(text, "cqrs_relay_published_total", &[]) == events
                && value(text, "cqrs_consumer_messages_total", &topic) == events
                && scraped(text, "cqrs_relay_lag_events", &[]) == Some(0.0)
                && SHARDS
                    .iter()
                    .any(|shard| view(text, "cqrs_projection_position", shard) == Some(head))
                && SHARDS.iter().all(|shard| {
                    matches!(
                        view(text, "cqrs_projection_lag_events", shard),
                        None | Some(0.0)
                    )
                })
        },
    )
    .await;
    // The view (a ProjectionHandler fed by Kafka): per partition, the position of the last
    // event it applied, the highest one appended on the late order's partition, and no
    // message behind any partition's high watermark. The keys spread over all three.
    for shard in SHARDS {
        let position = view(&text, "cqrs_projection_position", shard);
        assert!(
            position.is_some_and(|position| position >= 1.0 && position <= head),
            "shard {shard}: {position:?}\n{text}"
        );
        assert_eq!(
            view(&text, "cqrs_projection_lag_events", shard),
            Some(0.0),
            "shard {shard} caught up"
        );
    }
    assert!(
        SHARDS
            .iter()
            .any(|shard| view(&text, "cqrs_projection_position", shard) == Some(head)),
        "the late order's partition is at the last position appended, {head}"
    );
    assert_eq!(
        value(
            &text,
            "cqrs_appended_events_total",
            &[("store", "postgres")]
        ),
        events
    );
    assert_eq!(
        value(
            &text,
            "cqrs_consumer_messages_total",
            &[
                ("topic", events_topic.as_str()),
                ("outcome", "dead_lettered")
            ]
        ),
        1.0,
        "the poison message, once"
    );
    // Workers are named by what they keep: the relay by its checkpoint, a consumer by its
    // (prefixed) group id.
    let view_group = format!("m{run}.order-m{run}");
    let command_group = format!("m{run}.order-m{run}-commands");
    for worker in ["kafka-relay", view_group.as_str(), command_group.as_str()] {
        assert_eq!(
            scraped(
                &text,
                "cqrs_worker_up",
                &[("worker", worker), ("role", "leader")]
            ),
            Some(1.0),
            "{worker} works as leader:\n{text}"
        );
        assert_eq!(
            scraped(
                &text,
                "cqrs_worker_up",
                &[("worker", worker), ("role", "stopped")]
            ),
            Some(0.0)
        );
    }
    eprintln!(
        "metrics_scrape: /metrics excerpt:\n{}",
        text.lines()
            .filter(|l| l.starts_with("cqrs_") && !l.contains("_bucket"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    services.shutdown().await.expect("clean shutdown");
    let text = service_kit::metrics_endpoint::install().unwrap().render();
    for worker in ["kafka-relay", view_group.as_str(), command_group.as_str()] {
        let role = |role| {
            scraped(
                &text,
                "cqrs_worker_up",
                &[("worker", worker), ("role", role)],
            )
        };
        assert_eq!(
            (role("leader"), role("stopped")),
            (Some(0.0), Some(1.0)),
            "{worker} after shutdown"
        );
    }
    services_at
        .drop_schemas(&[&event_schema, &view_schema])
        .await;
}
