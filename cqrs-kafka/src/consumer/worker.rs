//! The runner's loop: receive a batch, process it (see [`process`](super::process)),
//! mark its offsets, record what it did per partition (see
//! [`positions`](super::positions)) and, for a projection, its progress gauges (see
//! [`progress`](super::progress)), commit.

use std::marker::PhantomData;
use std::time::Instant;

use cqrs_core::worker::sleep_or_stop;
use cqrs_core::RecordedEvent;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use tokio::sync::watch;

use super::batch::BatchHandler;
use super::config::ConsumerConfig;
use super::dead_letter::DeadLetters;
use super::decoder::Decoder;
use super::error::ConsumerError;
use super::offsets::OffsetTracker;
use super::process::Described;
use super::progress::ProjectionProgress;
use super::receive::{self, Limits, Received};
use super::running::ConsumerStats;
use super::span::MessageSpan;
use crate::headers::GLOBAL_POSITION;

/// What became of a batch.
pub(crate) enum Outcome {
    /// Every message handled or dead-lettered, and its offset marked for commit.
    Done,
    /// A stop was requested while retrying: the messages not marked yet will be delivered
    /// again.
    Interrupted,
}

/// The runner's state; `T` is what the decoder makes of a message.
pub(crate) struct Worker<H, D, T = RecordedEvent> {
    pub(crate) config: ConsumerConfig,
    pub(crate) limits: Limits,
    pub(crate) decoder: D,
    pub(crate) handler: H,
    pub(crate) dead_letters: Option<DeadLetters>,
    pub(crate) stats: watch::Sender<ConsumerStats>,
    /// The span each message is handled in.
    pub(crate) message_span: MessageSpan,
    /// The progress gauges, for a handler that names its projection.
    pub(crate) progress: Option<ProjectionProgress>,
    pub(crate) items: PhantomData<fn() -> T>,
}

impl<T: Described, H: BatchHandler<T>, D: Decoder<T>> Worker<H, D, T> {
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
            let commit_due = consumer
                .context()
                .has_pending()
                .then_some(last_commit + self.config.commit_interval);
            let received = receive::next_batch(consumer, self.limits, stop, commit_due).await;
            match received {
                Received::Stop => return Ok(()),
                Received::Idle => {}
                Received::End(partition) => {
                    consumer.context().positions(|p| p.reached_end(partition));
                    if let Some(progress) = &mut self.progress {
                        progress.reached_end(partition);
                    }
                }
                Received::Failed(error) => {
                    receive_failures += 1;
                    let delay = self.config.transient_backoff.backoff(receive_failures);
                    tracing::warn!(group = %self.config.group_id, %error, retry_in = ?delay, "receiving from Kafka failed");
                    if sleep_or_stop(delay, stop).await {
                        return Ok(());
                    }
                    continue;
                }
                Received::Batch { messages, end } => {
                    receive_failures = 0;
                    let outcome = self.process(&messages, consumer, stop).await?;
                    since_commit += messages.len() as u64;
                    if let Outcome::Interrupted = outcome {
                        return Ok(());
                    }
                    consumer.context().positions(|positions| {
                        for message in &messages {
                            let position = global_position(message);
                            positions.done(message.topic(), message.partition(), position);
                        }
                        if let Some(partition) = end {
                            positions.reached_end(partition);
                        }
                    });
                    if let (Some(progress), Some(partition)) = (&mut self.progress, end) {
                        progress.reached_end(partition);
                    }
                }
            }
            // Also after an idle wait: a rebalance inside it may have changed the assignment.
            self.publish_processed_position(consumer.context());
            if since_commit >= self.config.commit_every
                || last_commit.elapsed() >= self.config.commit_interval
            {
                self.commit(consumer, CommitMode::Async);
                since_commit = 0;
                last_commit = Instant::now();
            }
        }
    }

    /// Publishes the member's processed position in its stats when it changed.
    fn publish_processed_position(&self, tracker: &OffsetTracker) {
        let processed = tracker.positions(|positions| positions.processed());
        self.stats.send_if_modified(|stats| {
            let changed = stats.processed_position != processed;
            stats.processed_position = processed;
            changed
        });
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

/// The global position the relay stamped on `message` ([`GLOBAL_POSITION`]), if any.
pub(super) fn global_position(message: &BorrowedMessage<'_>) -> Option<u64> {
    let headers = message.headers()?;
    let value = headers
        .iter()
        .find(|header| header.key == GLOBAL_POSITION)?
        .value?;
    std::str::from_utf8(value).ok()?.parse().ok()
}
