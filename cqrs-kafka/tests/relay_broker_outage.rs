//! A relay started while the broker is down reports the failure, keeps retrying, and
//! publishes everything once the broker comes up, without being restarted.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{EventStore, InMemoryEventStore, RetryPolicy};
use cqrs_kafka::{headers, EventRelay, KafkaConfig, RelayConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_recovers_when_the_broker_comes_up_later() {
    if support::broker::tansu_binary().is_none() {
        support::broker::unavailable("no tansu binary to start a second broker");
        return;
    }
    let port = support::broker::free_port();
    let kafka = KafkaConfig::new(format!("127.0.0.1:{port}"));
    let (prefix, topics) = support::publish::category_topics("outage");
    let store = Arc::new(InMemoryEventStore::new());
    let appended = support::append_events(&*store, 10, 500).await;
    let config = RelayConfig {
        delivery_timeout: Duration::from_secs(2),
        retry_backoff: RetryPolicy::between(Duration::from_millis(100), Duration::from_secs(1)),
        ..support::publish::relay_config(&prefix)
    };
    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(config)
        .spawn();

    // No broker: nothing is acknowledged, and the failure is reported.
    let mut progress = relay.watch();
    let failing = tokio::time::timeout(
        Duration::from_secs(20),
        progress.wait_for(|p| p.last_error.is_some()),
    )
    .await
    .expect("the relay reports the unreachable broker")
    .expect("progress watch")
    .clone();
    assert_eq!(failing.checkpoint, 0);
    assert!(
        !relay.state().current().is_stopped(),
        "the relay keeps retrying: {failing:?}"
    );
    println!("while down: {:?}", failing.last_error);

    // The broker comes up later; the relay catches up by itself.
    let _broker = support::broker::start_tansu(port).await;
    support::create_topics(&kafka, &topics).await;
    relay
        .wait_until_caught_up(Duration::from_secs(90))
        .await
        .expect("relay recovers");
    assert!(relay.progress().last_error.is_none());
    relay.shutdown().await.expect("clean shutdown");
    assert_eq!(
        store.load_checkpoint("kafka-relay").await.unwrap(),
        Some(500)
    );

    let received = support::read_topics(
        &kafka,
        &topics,
        500,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await;
    let ids: HashSet<&str> = received
        .iter()
        .map(|m| m.header(headers::EVENT_ID))
        .collect();
    for event in &appended {
        assert!(
            ids.contains(event.event_id.to_string().as_str()),
            "event at position {} arrived",
            event.position
        );
    }
}
