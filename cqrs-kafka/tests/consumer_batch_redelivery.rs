//! A batch consumer that crashes after applying a batch but before committing it: the
//! next member of the group gets that whole batch again, and nothing before it.

mod support;

use std::time::Duration;

use cqrs_kafka::{ConsumerConfig, KafkaConfig};
use support::batches::{self, Recorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_commit_redelivers_the_whole_batch() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = support::unique("batch-crash");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;
    let (partition, offsets) = batches::produce_numbered(&kafka, &topic, 1..=15).await;
    let mut config = ConsumerConfig::new(support::unique("batch-crash"), [topic.clone()])
        .with_batches(5, Duration::from_secs(1));
    config.commit_every = 1;
    let group = config.group_id.clone();

    // The first member applies its second batch (6..=10), then dies before committing it.
    let crashing = Recorder {
        crash_after_batch: Some(2),
        ..Recorder::default()
    };
    let (applied, crashed) = (crashing.applied.clone(), crashing.crashed.clone());
    let first = batches::spawn(&kafka, config.clone(), crashing);
    tokio::time::timeout(Duration::from_secs(60), crashed.notified())
        .await
        .expect("the first consumer reaches the crash point");
    batches::wait_for_commit(&kafka, &group, &topic, partition, offsets[5]).await;
    first.abort();

    let second = Recorder {
        applied: applied.clone(),
        ..Recorder::default()
    };
    let second = batches::spawn(&kafka, config, second);
    second
        .wait_for(Duration::from_secs(60), |stats| stats.processed() >= 10)
        .await
        .expect("the rest processed");
    batches::wait_for_commit(&kafka, &group, &topic, partition, offsets[14] + 1).await;
    let second = second.shutdown().await.expect("clean shutdown");

    let expected: Vec<i64> = (1..=10).chain(6..=15).collect();
    assert_eq!(
        *applied.lock().unwrap(),
        expected,
        "the uncommitted batch came again, nothing before it, nothing skipped"
    );
    assert_eq!(
        second.attempts[0],
        offsets[5..10].to_vec(),
        "the same batch first"
    );
}
