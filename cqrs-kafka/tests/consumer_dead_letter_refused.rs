//! A dead-letter topic that refuses a poison message for good never stalls the runner:
//! the dead-letter producer here accepts smaller messages than the poison one
//! (`dead_letter_max_message_bytes`), so librdkafka refuses it with `MessageSizeTooLarge`.
//! A bounded copy lands instead and the next message is handled within seconds; when even
//! the bounded copy is refused, the runner stops with a typed error naming the message.

mod support;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_core::worker::{ShutdownError, WorkerState};
use cqrs_core::RecordedEvent;
use cqrs_kafka::{
    headers, ConsumerConfig, ConsumerError, ConsumerRunner, HandlerError, KafkaConfig,
    MessageHandler, MessageSource, RawJsonDecoder,
};

#[derive(Default)]
struct Seen(Vec<String>);

#[async_trait]
impl MessageHandler for Seen {
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        self.0.push(event.payload.as_str().to_owned());
        Ok(())
    }
}

/// Topic and dead-letter topic, created, with a 10,000-byte undecodable message and then
/// a good one on one partition. Returns the topics and the poison message's coordinates.
async fn poison_then_good(
    kafka: &KafkaConfig,
    name: &str,
) -> (String, String, (i32, i64), Vec<u8>) {
    let topic = support::unique(name);
    let dead_letters = format!("{topic}.dlq");
    support::create_topics(kafka, &[topic.clone(), dead_letters.clone()]).await;
    let poison: Vec<u8> = (0..10_000).map(|i| b'a' + (i % 26) as u8).collect();
    let at = support::publish::produce_raw(kafka, &topic, "sensor-1", &poison, &[("device", "d1")])
        .await;
    support::publish::produce_raw(kafka, &topic, "sensor-1", br#"{"n":1}"#, &[]).await;
    (topic, dead_letters, at, poison)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_too_large_for_its_topic_goes_as_a_bounded_copy_and_the_next_message_is_handled(
) {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (topic, dead_letters, (partition, offset), poison) =
        poison_then_good(&kafka, "bounded").await;
    let mut config = ConsumerConfig::new(support::unique("bounded-writer"), [topic.clone()])
        .with_dead_letter_topic(&dead_letters);
    config.dead_letter_max_message_bytes = 4_000;
    config.dead_letter_max_value_bytes = 1_000;
    let started = Instant::now();
    let running = ConsumerRunner::new(kafka.clone(), config, Seen::default())
        .with_decoder(RawJsonDecoder::default())
        .spawn()
        .expect("consumer");
    let stats = running
        .wait_for(Duration::from_secs(30), |stats| stats.processed() >= 2)
        .await
        .expect("the poison message is dead-lettered and the good one handled");
    let took = started.elapsed();
    eprintln!(
        "poison dead-lettered as a bounded copy and the next message handled {took:?} after spawn"
    );
    assert_eq!((stats.dead_lettered, stats.handled), (1, 1));
    assert!(
        took < Duration::from_secs(15),
        "handled within seconds, took {took:?}"
    );
    assert_eq!(running.state().current(), WorkerState::Running);
    let seen = running.shutdown().await.expect("clean shutdown");
    assert_eq!(seen.0, [r#"{"n":1}"#]);

    let letters = support::read::dead_letters(&kafka, &dead_letters, 1).await;
    let letter = &letters[0];
    assert_eq!(
        letter.payload.as_bytes(),
        &poison[..1_000],
        "the first N bytes"
    );
    assert_eq!(letter.key, "sensor-1");
    assert_eq!(letter.header("device"), "d1", "original headers are kept");
    assert_eq!(letter.header(headers::DLQ_TRUNCATED), "true");
    assert_eq!(letter.header(headers::DLQ_ORIGINAL_VALUE_BYTES), "10000");
    assert_eq!(letter.header(headers::DLQ_ORIGINAL_TOPIC), topic);
    assert_eq!(
        letter.header(headers::DLQ_ORIGINAL_PARTITION),
        partition.to_string()
    );
    assert_eq!(
        letter.header(headers::DLQ_ORIGINAL_OFFSET),
        offset.to_string()
    );
    assert_eq!(letter.header(headers::DLQ_STAGE), "decode");
    assert!(
        letter.header(headers::DLQ_ERROR).contains("not valid JSON"),
        "{letter:?}"
    );
    assert!(
        letter
            .header(headers::DLQ_PUBLISH_ERROR)
            .contains("too large"),
        "{letter:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_topic_refusing_even_the_bounded_copy_stops_the_runner_naming_the_message() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (topic, dead_letters, (partition, offset), _) = poison_then_good(&kafka, "refused").await;
    let mut config = ConsumerConfig::new(support::unique("refused-writer"), [topic.clone()])
        .with_dead_letter_topic(&dead_letters);
    config.dead_letter_max_message_bytes = 1_000;
    config.dead_letter_max_value_bytes = 5_000; // the bounded copy is still too large
    let running = ConsumerRunner::new(kafka.clone(), config, Seen::default())
        .with_decoder(RawJsonDecoder::default())
        .spawn()
        .expect("consumer");
    let mut state = running.state();
    let stopped = tokio::time::timeout(Duration::from_secs(30), state.stopped())
        .await
        .expect("the runner stops instead of retrying forever");
    let at = format!("topic `{topic}` partition {partition} offset {offset}");
    match &stopped {
        WorkerState::Failed(reason) => {
            assert!(reason.contains(&at), "names the message: {reason}");
            assert!(reason.contains("even as a bounded copy"), "{reason}");
            assert!(reason.contains("too large"), "names the refusal: {reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(
        running.progress().handled,
        0,
        "nothing after the poison message"
    );
    match running.shutdown().await {
        Err(ShutdownError::Failed(ConsumerError::DeadLetterRefused {
            at: named,
            reason,
            topic: refused_by,
            ..
        })) => {
            assert_eq!(named, at);
            assert_eq!(refused_by, dead_letters);
            assert!(reason.contains("not valid JSON"), "{reason}");
        }
        Err(other) => panic!("expected DeadLetterRefused, got {other}"),
        Ok(_) => panic!("expected DeadLetterRefused, got a clean shutdown"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_topic_missing_from_the_cluster_stops_the_runner_instead_of_looping() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let topic = support::unique("missing-dlq");
    support::create_topics(&kafka, std::slice::from_ref(&topic)).await;
    let at = support::publish::produce_raw(&kafka, &topic, "sensor-1", b"not json", &[]).await;
    let dead_letters = format!("{topic}.never-created");
    let config = ConsumerConfig::new(support::unique("missing-dlq-writer"), [topic.clone()])
        .with_dead_letter_topic(&dead_letters);
    let running = ConsumerRunner::new(kafka.clone(), config, Seen::default())
        .with_decoder(RawJsonDecoder::default())
        .spawn()
        .expect("consumer");
    let started = Instant::now();
    let mut state = running.state();
    // The dead-letter producer learns that the topic does not exist after 10 s
    // (`topic.metadata.propagation.max.ms`); librdkafka's default of 30 s would race the
    // 30 s message timeout, whose `MessageTimedOut` is transient and retried forever.
    let stopped = tokio::time::timeout(Duration::from_secs(25), state.stopped())
        .await
        .expect("the runner stops instead of retrying the missing topic forever");
    assert!(
        matches!(&stopped, WorkerState::Failed(reason) if reason.contains(&format!("offset {}", at.1))),
        "{stopped:?}"
    );
    eprintln!("stopped after {:?}", started.elapsed());
    match running.shutdown().await {
        Err(ShutdownError::Failed(ConsumerError::DeadLetterRefused {
            topic: refused_by, ..
        })) => {
            assert_eq!(refused_by, dead_letters)
        }
        Err(other) => panic!("expected DeadLetterRefused, got {other}"),
        Ok(_) => panic!("expected DeadLetterRefused, got a clean shutdown"),
    }
}
