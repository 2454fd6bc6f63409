//! For the batch consumer tests: a recording batch handler, raw messages in one
//! partition, and the group's committed offsets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_kafka::{
    Batch, BatchConsumerRunner, BatchHandler, ConsumerConfig, HandlerError, KafkaConfig,
    RawJsonDecoder, RunningConsumer,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Notify;

/// Records every attempt and every applied batch of `{"n": ...}` messages; rejects the
/// messages with `"reject": true` (one by one, or the whole batch when it cannot tell
/// which); can fail transiently first, or "crash" (hang forever) right after applying a
/// given batch, before the runner can commit it.
#[derive(Default)]
pub struct Recorder {
    /// The offsets handed to the handler, per attempt.
    pub attempts: Vec<Vec<i64>>,
    /// The `n`s applied, per successful batch.
    pub batches: Vec<Vec<i64>>,
    /// Every applied `n`, across runners.
    pub applied: Arc<Mutex<Vec<i64>>>,
    /// Attempts to fail with a transient error before succeeding.
    pub transient_failures: u32,
    /// Reject a whole batch holding a `"reject": true` message instead of that message.
    pub reject_whole_batch: bool,
    /// Hang after applying this many batches (1-based).
    pub crash_after_batch: Option<usize>,
    pub crashed: Arc<Notify>,
}

#[async_trait]
impl BatchHandler for Recorder {
    async fn handle_batch(&mut self, batch: &mut Batch<'_>) -> Result<(), HandlerError> {
        self.attempts
            .push(batch.iter().map(|item| item.source().offset).collect());
        if self.transient_failures > 0 {
            self.transient_failures -= 1;
            return Err(HandlerError::transient("database unavailable"));
        }
        let mut applied = Vec::new();
        let mut rejected = Vec::new();
        for item in batch.iter() {
            let value = item
                .event()
                .payload
                .to_value()
                .map_err(HandlerError::rejected)?;
            let n = value["n"].as_i64().unwrap_or(-1);
            if value["reject"] == true {
                rejected.push((item.index(), n));
            } else {
                applied.push(n);
            }
        }
        if self.reject_whole_batch && !rejected.is_empty() {
            return Err(HandlerError::rejected("some reading is out of range"));
        }
        for (index, n) in rejected {
            batch.reject(index, format!("reading {n} is out of range"));
        }
        self.applied.lock().unwrap().extend(&applied);
        self.batches.push(applied);
        if Some(self.batches.len()) == self.crash_after_batch {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Produces `values` to `topic` under one key (so one partition), each its own record
/// batch (see the tansu caveat in `publish.rs`). Returns the partition and the offsets.
pub async fn produce_in_one_partition(
    kafka: &KafkaConfig,
    topic: &str,
    values: &[(&str, &[(&str, &str)])],
) -> (i32, Vec<i64>) {
    let mut partition = None;
    let mut offsets = Vec::new();
    for (value, headers) in values {
        let (p, offset) =
            super::publish::produce_raw(kafka, topic, "sensor-1", value.as_bytes(), headers).await;
        assert_eq!(*partition.get_or_insert(p), p, "one key, one partition");
        offsets.push(offset);
    }
    (partition.expect("at least one value"), offsets)
}

/// Produces `{"n": n}` for each n with [`produce_in_one_partition`].
pub async fn produce_numbered(
    kafka: &KafkaConfig,
    topic: &str,
    ns: impl IntoIterator<Item = i64>,
) -> (i32, Vec<i64>) {
    let values: Vec<String> = ns.into_iter().map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    let values: Vec<_> = values.iter().map(|v| (v.as_str(), &[][..])).collect();
    produce_in_one_partition(kafka, topic, &values).await
}

/// Runs `recorder` on raw JSON messages with `config`.
pub fn spawn(
    kafka: &KafkaConfig,
    config: ConsumerConfig,
    recorder: Recorder,
) -> RunningConsumer<Recorder> {
    BatchConsumerRunner::new(kafka.clone(), config, recorder)
        .with_decoder(RawJsonDecoder::default())
        .spawn()
        .expect("batch consumer")
}

/// The offset `group` committed for `topic`/`partition`, if any.
pub fn committed(kafka: &KafkaConfig, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset reader");
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    match committed.elements()[0].offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

/// Polls until `group` committed `expected` for `topic`/`partition`.
pub async fn wait_for_commit(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    partition: i32,
    expected: i64,
) {
    let started = Instant::now();
    loop {
        let (k, g, t) = (kafka.clone(), group.to_owned(), topic.to_owned());
        let now = tokio::task::spawn_blocking(move || committed(&k, &g, &t, partition))
            .await
            .expect("offset reader task");
        if now == Some(expected) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "group {group} committed {now:?} for {topic}/{partition}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
