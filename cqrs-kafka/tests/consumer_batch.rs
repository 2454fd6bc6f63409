//! A batch handler gets many messages at once; offsets are committed only after the
//! whole batch succeeded, transient failures hand the same batch again, messages
//! rejected inside a batch are dead-lettered while the others are applied, and a batch
//! rejected as a whole is split into single messages.

mod support;

use std::time::Duration;

use cqrs_core::RetryPolicy;
use cqrs_kafka::{headers, ConsumerConfig, ConsumerStats, KafkaConfig, RunningConsumer};
use support::batches::{self, Recorder};

/// Batches of up to 10 messages, waiting up to 2 s for them; commits after every batch.
fn config(topic: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(support::unique("batch-writer"), [topic.to_owned()])
        .with_batches(10, Duration::from_secs(2));
    config.commit_every = 1;
    config.transient_backoff =
        RetryPolicy::between(Duration::from_millis(5), Duration::from_millis(20));
    config
}

async fn topic(kafka: &KafkaConfig, name: &str) -> String {
    let topic = support::unique(name);
    support::create_topics(kafka, &[topic.clone(), format!("{topic}.dlq")]).await;
    topic
}

/// Waits until `count` messages were processed; returns (handled, dead-lettered, retries).
async fn processed(running: &RunningConsumer<Recorder>, count: u64) -> (u64, u64, u64) {
    let ConsumerStats {
        handled,
        dead_lettered,
        retries,
        ..
    } = running
        .wait_for(Duration::from_secs(60), |stats| stats.processed() >= count)
        .await
        .expect("processed");
    (handled, dead_lettered, retries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_handled_once_and_committed_after_it() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = topic(&kafka, "batch-once").await;
    let (partition, offsets) = batches::produce_numbered(&kafka, &topic, 1..=10).await;

    let config = config(&topic);
    let group = config.group_id.clone();
    let running = batches::spawn(&kafka, config, Recorder::default());
    assert_eq!(processed(&running, 10).await, (10, 0, 0));
    batches::wait_for_commit(&kafka, &group, &topic, partition, offsets[9] + 1).await;
    let recorder = running.shutdown().await.expect("clean shutdown");
    assert_eq!(
        recorder.batches,
        vec![(1..=10).collect::<Vec<i64>>()],
        "one batch"
    );
    assert_eq!(
        recorder.attempts,
        vec![offsets],
        "handed once, in offset order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_hands_the_whole_batch_again_without_skipping() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = topic(&kafka, "batch-flaky").await;
    let (partition, offsets) = batches::produce_numbered(&kafka, &topic, 1..=6).await;

    let config = config(&topic);
    let group = config.group_id.clone();
    let recorder = Recorder {
        transient_failures: 4,
        ..Recorder::default()
    };
    let running = batches::spawn(&kafka, config, recorder);
    assert_eq!(processed(&running, 6).await, (6, 0, 4));
    batches::wait_for_commit(&kafka, &group, &topic, partition, offsets[5] + 1).await;
    let recorder = running.shutdown().await.expect("clean shutdown");
    assert_eq!(
        recorder.attempts,
        vec![offsets; 5],
        "the same batch, every time"
    );
    assert_eq!(recorder.batches, vec![(1..=6).collect::<Vec<i64>>()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_rejected_in_a_batch_are_dead_lettered_and_the_others_applied() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = topic(&kafka, "batch-reject").await;
    let dead_letters = format!("{topic}.dlq");
    let values: [(&str, &[(&str, &str)]); 5] = [
        (r#"{"n":1}"#, &[]),
        (r#"{"n":2,"reject":true}"#, &[("trace", "t-2")]),
        ("{not json", &[("device", "d1")]),
        (r#"{"n":4}"#, &[]),
        (r#"{"n":5}"#, &[]),
    ];
    let (partition, offsets) = batches::produce_in_one_partition(&kafka, &topic, &values).await;

    let config = config(&topic).with_dead_letter_topic(&dead_letters);
    let group = config.group_id.clone();
    let running = batches::spawn(&kafka, config, Recorder::default());
    assert_eq!(processed(&running, 5).await, (3, 2, 0));
    batches::wait_for_commit(&kafka, &group, &topic, partition, offsets[4] + 1).await;
    let recorder = running.shutdown().await.expect("clean shutdown");
    assert_eq!(
        recorder.batches,
        vec![vec![1, 4, 5]],
        "one batch, the rest applied"
    );
    let decodable = [offsets[0], offsets[1], offsets[3], offsets[4]];
    assert_eq!(recorder.attempts, vec![decodable.to_vec()]);

    let letters = support::read::dead_letters(&kafka, &dead_letters, 2).await;
    let (rejected, undecodable) = (&letters[0], &letters[1]);
    assert_eq!(rejected.payload, r#"{"n":2,"reject":true}"#);
    assert_eq!(rejected.header(headers::DLQ_STAGE), "handler");
    assert!(rejected
        .header(headers::DLQ_ERROR)
        .contains("reading 2 is out of range"));
    assert_eq!(rejected.header("trace"), "t-2", "original headers are kept");
    assert_eq!(
        rejected.header(headers::DLQ_ORIGINAL_OFFSET),
        offsets[1].to_string()
    );
    assert_eq!(undecodable.payload, "{not json");
    assert_eq!(undecodable.header(headers::DLQ_STAGE), "decode");
    assert_eq!(undecodable.header("device"), "d1");
    assert_eq!(
        undecodable.header(headers::DLQ_ORIGINAL_OFFSET),
        offsets[2].to_string()
    );
    for letter in &letters {
        assert_eq!(letter.header(headers::DLQ_ORIGINAL_TOPIC), topic);
        assert_eq!(
            letter.header(headers::DLQ_ORIGINAL_PARTITION),
            partition.to_string()
        );
        assert_eq!(letter.key, "sensor-1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_rejected_as_a_whole_is_split_and_only_the_bad_message_dead_lettered() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = topic(&kafka, "batch-split").await;
    let dead_letters = format!("{topic}.dlq");
    let values: [(&str, &[(&str, &str)]); 4] = [
        (r#"{"n":1}"#, &[]),
        (r#"{"n":2}"#, &[]),
        (r#"{"n":3,"reject":true}"#, &[]),
        (r#"{"n":4}"#, &[]),
    ];
    let (_, offsets) = batches::produce_in_one_partition(&kafka, &topic, &values).await;

    let mut config = config(&topic).with_dead_letter_topic(&dead_letters);
    config.retry = cqrs_core::RetryPolicy::attempts(2)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20));
    let recorder = Recorder {
        reject_whole_batch: true,
        ..Recorder::default()
    };
    let running = batches::spawn(&kafka, config, recorder);
    assert_eq!(
        processed(&running, 4).await,
        (3, 1, 1),
        "the bad message tried twice on its own"
    );
    let recorder = running.shutdown().await.expect("clean shutdown");
    let one = |i: usize| vec![offsets[i]];
    assert_eq!(
        recorder.attempts,
        vec![offsets.clone(), one(0), one(1), one(2), one(2), one(3)],
        "the whole batch, then each message on its own, in order"
    );
    assert_eq!(recorder.batches, vec![vec![1], vec![2], vec![4]]);

    let letters = support::read::dead_letters(&kafka, &dead_letters, 1).await;
    assert_eq!(letters[0].payload, r#"{"n":3,"reject":true}"#);
    assert_eq!(letters[0].header(headers::DLQ_STAGE), "handler");
    assert_eq!(
        letters[0].header(headers::DLQ_ORIGINAL_OFFSET),
        offsets[2].to_string()
    );
}
