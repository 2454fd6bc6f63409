//! Transient handler failures are retried with backoff, never skipped, and later
//! messages wait for them.

mod support;

use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{RecordedEvent, RetryPolicy};
use cqrs_kafka::{
    ConsumerConfig, ConsumerRunner, HandlerError, KafkaConfig, MessageHandler, MessageSource,
    RawJsonDecoder,
};

/// Fails the first `outage` attempts as if its database were down.
struct FlakyStore {
    outage: u32,
    attempts: u32,
    stored: Vec<i64>,
}

#[async_trait]
impl MessageHandler for FlakyStore {
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        self.attempts += 1;
        if self.attempts <= self.outage {
            return Err(HandlerError::transient("database unavailable"));
        }
        let value = event.payload.to_value().map_err(HandlerError::rejected)?;
        self.stored.push(value["n"].as_i64().unwrap_or(-1));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_handler_errors_are_retried_without_skipping() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = support::unique("flaky");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;
    for n in 1..=3 {
        support::publish::produce_raw(
            &kafka,
            &topic,
            "k",
            format!(r#"{{"n":{n}}}"#).as_bytes(),
            &[],
        )
        .await;
    }

    // More transient failures than the rejection retry policy allows: still not skipped.
    let mut config = ConsumerConfig::new(support::unique("flaky-writer"), [topic]);
    config.transient_backoff =
        RetryPolicy::between(Duration::from_millis(5), Duration::from_millis(20));
    let handler = FlakyStore {
        outage: 6,
        attempts: 0,
        stored: Vec::new(),
    };
    let running = ConsumerRunner::new(kafka, config, handler)
        .with_decoder(RawJsonDecoder::default())
        .spawn()
        .expect("consumer");
    let stats = running
        .wait_for(Duration::from_secs(60), |stats| stats.processed() >= 3)
        .await
        .expect("all processed");
    assert_eq!(
        (stats.handled, stats.dead_lettered, stats.retries),
        (3, 0, 6)
    );
    let handler = running.shutdown().await.expect("clean shutdown");
    assert_eq!(handler.stored, vec![1, 2, 3]);
}
