//! A second member joining the group takes over partitions mid-stream: the first member
//! commits what it handled when its partitions are revoked, so nothing is handled twice
//! and nothing is lost.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cqrs_kafka::{ConsumerConfig, ConsumerRunner, KafkaConfig, ProjectionHandler};
use support::totals::{Totals, TotalsProjection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_commits_on_revocation_and_the_group_resumes_exactly() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (topics, events) = support::publish::relayed_events(&kafka, "rebalance", 20, 1_000).await;
    let config = ConsumerConfig {
        // Only revocation and shutdown commit here: the test proves the revocation commit.
        commit_every: u64::MAX,
        commit_interval: Duration::from_secs(3600),
        ..ConsumerConfig::new(support::unique("totals"), topics)
    };
    let model = Arc::new(Mutex::new(Totals::default()));
    let member = || {
        let mut projection = TotalsProjection::new(model.clone());
        projection.pace = Duration::from_millis(10);
        ConsumerRunner::new(
            kafka.clone(),
            config.clone(),
            ProjectionHandler::new(projection),
        )
        .spawn()
        .expect("consumer")
    };

    let first = member();
    support::totals::wait_for_applied(&model, 100, Duration::from_secs(60)).await;
    let second = member();
    support::totals::wait_for_applied(&model, 1_000, Duration::from_secs(120)).await;
    let (first_stats, second_stats) = (first.progress(), second.progress());
    second.shutdown().await.expect("second shuts down");
    first.shutdown().await.expect("first shuts down");

    let model = model.lock().unwrap();
    assert!(
        second_stats.handled > 0,
        "the second member took over partitions: {second_stats:?}"
    );
    assert_eq!(
        first_stats.handled + second_stats.handled,
        1_000,
        "{first_stats:?} {second_stats:?}"
    );
    assert_eq!(
        model.duplicates, 0,
        "revocation committed every handled offset"
    );
    assert_eq!(
        model.per_stream,
        Totals::expected(&events),
        "read model exact"
    );
}
