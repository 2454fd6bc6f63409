//! A consumer that crashes after applying an event but before committing its offset gets
//! the event again; the idempotent projection keeps the read model exact.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_kafka::{ConsumerConfig, ConsumerRunner, KafkaConfig, ProjectionHandler};
use support::totals::{Totals, TotalsProjection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_crash_before_commit_redelivers_and_read_model_stays_exact() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (topics, events) = support::publish::relayed_events(&kafka, "redelivery", 10, 500).await;
    let group = support::unique("totals");
    let config = ConsumerConfig {
        commit_every: 50,
        ..ConsumerConfig::new(&group, topics.clone())
    };
    let model = Arc::new(Mutex::new(Totals::default()));

    // The first member applies its 300th delivery, then dies before committing it.
    let mut crashing = TotalsProjection::new(model.clone());
    crashing.crash_at = Some(300);
    let crashed = crashing.crashed.clone();
    let first = ConsumerRunner::new(
        kafka.clone(),
        config.clone(),
        ProjectionHandler::new(crashing),
    )
    .spawn()
    .expect("first consumer");
    tokio::time::timeout(Duration::from_secs(60), crashed.notified())
        .await
        .expect("the first consumer reaches the crash point");
    first.abort();

    // A new member of the group gets the uncommitted messages again.
    let second = ConsumerRunner::new(
        kafka.clone(),
        config,
        ProjectionHandler::new(TotalsProjection::new(model.clone())),
    )
    .spawn()
    .expect("second consumer");
    support::totals::wait_for_applied(&model, 500, Duration::from_secs(60)).await;
    second.shutdown().await.expect("clean shutdown");

    let model = model.lock().unwrap();
    assert!(
        model.duplicates >= 1,
        "the crashed delivery came again: {model:?}"
    );
    assert_eq!(model.deliveries, 500 + model.duplicates);
    assert_eq!(
        model.per_stream,
        Totals::expected(&events),
        "read model exact"
    );
    println!(
        "deliveries {}, duplicates {}",
        model.deliveries, model.duplicates
    );
}
