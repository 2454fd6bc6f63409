//! The runner's loop: receive, decode, handle (with retries), dead-letter, commit.

use std::time::Instant;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::watch;

use super::config::ConsumerConfig;
use super::dead_letter::DeadLetters;
use super::decoder::Decoder;
use super::error::ConsumerError;
use super::handler::{HandlerError, MessageHandler};
use super::message::IncomingMessage;
use super::offsets::OffsetTracker;
use super::running::ConsumerStats;
use crate::stop;

/// What became of one message.
enum Outcome {
    /// Handled or dead-lettered: its offset may be committed.
    Done,
    /// A stop was requested while retrying: not done, it will be delivered again.
    Interrupted,
}

pub(crate) struct Worker<H, D> {
    pub(crate) config: ConsumerConfig,
    pub(crate) decoder: D,
    pub(crate) handler: H,
    pub(crate) dead_letters: Option<DeadLetters>,
    pub(crate) stats: watch::Sender<ConsumerStats>,
}

impl<H: MessageHandler, D: Decoder> Worker<H, D> {
    pub(crate) async fn run(
        mut self,
        consumer: StreamConsumer<OffsetTracker>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<H, ConsumerError> {
        let result = self.consume(&consumer, &mut stop).await;
        self.commit(&consumer, CommitMode::Sync);
        // Leaving the group polls until librdkafka closed the consumer: off the runtime.
        if let Err(error) = tokio::task::spawn_blocking(move || drop(consumer)).await {
            tracing::warn!(%error, "closing the consumer failed");
        }
        let reason = match &result {
            Ok(()) => "shut down".to_owned(),
            Err(error) => {
                tracing::error!(group = %self.config.group_id, %error, "consumer runner stopped");
                error.to_string()
            }
        };
        self.stats.send_modify(|s| s.stopped = Some(reason.into()));
        result.map(|()| self.handler)
    }

    async fn consume(
        &mut self,
        consumer: &StreamConsumer<OffsetTracker>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ConsumerError> {
        let mut since_commit = 0u64;
        let mut last_commit = Instant::now();
        let mut receive_failures = 0;
        loop {
            let commit_due = last_commit + self.config.commit_interval;
            let received = tokio::select! {
                () = stop::requested(stop) => return Ok(()),
                () = tokio::time::sleep_until(commit_due.into()), if consumer.context().has_pending() => None,
                received = consumer.recv() => Some(received),
            };
            match received {
                None => {}
                Some(Err(error)) => {
                    receive_failures += 1;
                    let delay = self.config.transient_delay(receive_failures);
                    tracing::warn!(group = %self.config.group_id, %error, retry_in = ?delay, "receiving from Kafka failed");
                    if stop::wait_or_stop(delay, stop).await {
                        return Ok(());
                    }
                    continue;
                }
                Some(Ok(message)) => {
                    receive_failures = 0;
                    match self.process(&message, stop).await? {
                        Outcome::Done => {
                            consumer.context().mark(
                                message.topic(),
                                message.partition(),
                                message.offset(),
                            );
                            since_commit += 1;
                        }
                        Outcome::Interrupted => return Ok(()),
                    }
                }
            }
            if since_commit >= self.config.commit_every
                || last_commit.elapsed() >= self.config.commit_interval
            {
                self.commit(consumer, CommitMode::Async);
                since_commit = 0;
                last_commit = Instant::now();
            }
        }
    }

    /// Decodes and handles one message, retrying per the configuration; poison messages go
    /// to the dead-letter topic.
    async fn process(
        &mut self,
        message: &BorrowedMessage<'_>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, ConsumerError> {
        let incoming = IncomingMessage::new(message);
        let source = incoming.source();
        let event = match self.decoder.decode(&incoming) {
            Ok(event) => event,
            Err(error) => {
                return self
                    .dead_letter(&incoming, "decode", &error.to_string(), stop)
                    .await
            }
        };
        let (mut rejections, mut transient) = (0, 0);
        loop {
            let delay = match self.handler.handle(&event, &source).await {
                Ok(()) => {
                    self.stats.send_modify(|s| s.handled += 1);
                    return Ok(Outcome::Done);
                }
                Err(HandlerError::Transient(error)) => {
                    transient += 1;
                    let delay = self.config.transient_delay(transient);
                    tracing::warn!(at = %source, event_id = %event.event_id, %error, attempt = transient, retry_in = ?delay, "handler failed transiently, retrying");
                    delay
                }
                Err(HandlerError::Rejected(error)) => {
                    rejections += 1;
                    if rejections >= self.config.retry.max_attempts {
                        let reason = format!(
                            "handler rejected event {} (`{}` in stream `{}`) {rejections} times: {error}",
                            event.event_id, event.event_type, event.stream_id
                        );
                        return self.dead_letter(&incoming, "handler", &reason, stop).await;
                    }
                    let delay = self.config.retry.backoff(rejections);
                    tracing::warn!(at = %source, event_id = %event.event_id, %error, attempt = rejections, retry_in = ?delay, "handler rejected the event, retrying");
                    delay
                }
            };
            self.stats.send_modify(|s| s.retries += 1);
            if stop::wait_or_stop(delay, stop).await {
                return Ok(Outcome::Interrupted);
            }
        }
    }

    /// Publishes a poison message to the dead-letter topic, retrying until the broker
    /// acknowledges it; without a dead-letter topic the runner stops instead of skipping.
    async fn dead_letter(
        &mut self,
        incoming: &IncomingMessage<'_>,
        stage: &str,
        reason: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, ConsumerError> {
        let at = incoming.source();
        let Some(dead_letters) = &self.dead_letters else {
            return Err(ConsumerError::Poison {
                group: self.config.group_id.clone(),
                at: at.to_string(),
                reason: reason.to_owned(),
            });
        };
        let mut failures = 0;
        loop {
            match dead_letters.send(incoming, stage, reason).await {
                Ok(()) => {
                    tracing::warn!(%at, stage, reason, dead_letter_topic = dead_letters.topic(), "poison message dead-lettered");
                    self.stats.send_modify(|s| s.dead_lettered += 1);
                    return Ok(Outcome::Done);
                }
                Err(error) => {
                    failures += 1;
                    let delay = self.config.transient_delay(failures);
                    tracing::warn!(%at, %error, retry_in = ?delay, dead_letter_topic = dead_letters.topic(), "cannot publish to the dead-letter topic, retrying");
                    if stop::wait_or_stop(delay, stop).await {
                        return Ok(Outcome::Interrupted);
                    }
                }
            }
        }
    }

    /// Commits the handled offsets not committed yet.
    fn commit(&self, consumer: &StreamConsumer<OffsetTracker>, mode: CommitMode) {
        let offsets = consumer.context().take_all();
        if offsets.count() == 0 {
            return;
        }
        if let Err(error) = consumer.commit(&offsets, mode) {
            tracing::warn!(group = %self.config.group_id, %error, "offset commit failed; those messages may be delivered again");
        }
    }
}
