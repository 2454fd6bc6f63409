//! Poison messages (undecodable, or rejected after the retries) go to the dead-letter
//! topic with the reason and their origin in headers; the runner moves on.

mod support;

use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::RecordedEvent;
use cqrs_kafka::{
    headers, ConsumerConfig, ConsumerRunner, HandlerError, KafkaConfig, MessageHandler,
    MessageSource, RawJsonDecoder,
};

/// Records readings; rejects any with `"reject": true`.
#[derive(Default)]
struct Readings {
    seen: Vec<i64>,
}

#[async_trait]
impl MessageHandler for Readings {
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        let value = event.payload.to_value().map_err(HandlerError::rejected)?;
        if value["reject"] == true {
            return Err(HandlerError::rejected(format!(
                "reading {} is out of range",
                value["n"]
            )));
        }
        self.seen.push(value["n"].as_i64().unwrap_or(-1));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_next_message_is_processed() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = support::unique("readings");
    let dead_letters = format!("{topic}.dlq");
    support::create_topics(&kafka, &[topic.clone(), dead_letters.clone()]).await;

    // One key: one partition, so the good messages come after the poison ones.
    let undecodable = support::publish::produce_raw(
        &kafka,
        &topic,
        "sensor-1",
        b"{not json",
        &[("device", "d1")],
    )
    .await;
    let good = support::publish::produce_raw(&kafka, &topic, "sensor-1", br#"{"n":1}"#, &[]).await;
    let rejected =
        support::publish::produce_raw(&kafka, &topic, "sensor-1", br#"{"n":2,"reject":true}"#, &[])
            .await;
    let last = support::publish::produce_raw(&kafka, &topic, "sensor-1", br#"{"n":3}"#, &[]).await;
    assert_eq!([good.0, rejected.0, last.0], [undecodable.0; 3]);

    let mut config = ConsumerConfig::new(support::unique("readings-writer"), [topic.clone()])
        .with_dead_letter_topic(&dead_letters);
    config.retry = cqrs_core::RetryPolicy::attempts(3)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20));
    let running = ConsumerRunner::new(kafka.clone(), config, Readings::default())
        .with_decoder(RawJsonDecoder::default().with_event_type("Reading"))
        .spawn()
        .expect("consumer");
    let stats = running
        .wait_for(Duration::from_secs(60), |stats| stats.processed() >= 4)
        .await
        .expect("all four processed");
    assert_eq!((stats.handled, stats.dead_lettered), (2, 2));
    assert_eq!(stats.retries, 2, "the rejected message was tried 3 times");
    let handler = running.shutdown().await.expect("clean shutdown");
    assert_eq!(handler.seen, vec![1, 3]);

    let letters = support::read::dead_letters(&kafka, &dead_letters, 2).await;
    let (first, second) = (&letters[0], &letters[1]);
    for (letter, (partition, offset)) in [(first, undecodable), (second, rejected)] {
        assert_eq!(letter.header(headers::DLQ_ORIGINAL_TOPIC), topic);
        assert_eq!(
            letter.header(headers::DLQ_ORIGINAL_PARTITION),
            partition.to_string()
        );
        assert_eq!(
            letter.header(headers::DLQ_ORIGINAL_OFFSET),
            offset.to_string()
        );
        assert_eq!(letter.key, "sensor-1");
    }
    assert_eq!(first.payload, "{not json");
    assert_eq!(first.header(headers::DLQ_STAGE), "decode");
    assert!(
        first.header(headers::DLQ_ERROR).contains("not valid JSON"),
        "{first:?}"
    );
    assert_eq!(first.header("device"), "d1", "original headers are kept");
    assert_eq!(second.header(headers::DLQ_STAGE), "handler");
    assert!(
        second.header(headers::DLQ_ERROR).contains("out of range"),
        "{second:?}"
    );
}
