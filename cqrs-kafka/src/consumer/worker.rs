//! The runner's loop: receive a batch, process it (see [`process`](super::process)),
//! mark its offsets, commit.

use std::time::Instant;

use cqrs_core::worker::sleep_or_stop;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use tokio::sync::watch;

use super::batch::BatchHandler;
use super::config::ConsumerConfig;
use super::dead_letter::DeadLetters;
use super::decoder::Decoder;
use super::error::ConsumerError;
use super::offsets::OffsetTracker;
use super::receive::{self, Limits, Received};
use super::running::ConsumerStats;

/// What became of a batch.
pub(crate) enum Outcome {
    /// Every message handled or dead-lettered, and its offset marked for commit.
    Done,
    /// A stop was requested while retrying: the messages not marked yet will be delivered
    /// again.
    Interrupted,
}

pub(crate) struct Worker<H, D> {
    pub(crate) config: ConsumerConfig,
    pub(crate) limits: Limits,
    pub(crate) decoder: D,
    pub(crate) handler: H,
    pub(crate) dead_letters: Option<DeadLetters>,
    pub(crate) stats: watch::Sender<ConsumerStats>,
}

impl<H: BatchHandler, D: Decoder> Worker<H, D> {
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
            match receive::next_batch(consumer, self.limits, stop, commit_due).await {
                Received::Stop => return Ok(()),
                Received::Idle => {}
                Received::Failed(error) => {
                    receive_failures += 1;
                    let delay = self.config.transient_backoff.backoff(receive_failures);
                    tracing::warn!(group = %self.config.group_id, %error, retry_in = ?delay, "receiving from Kafka failed");
                    if sleep_or_stop(delay, stop).await {
                        return Ok(());
                    }
                    continue;
                }
                Received::Batch(messages) => {
                    receive_failures = 0;
                    let outcome = self.process(&messages, consumer.context(), stop).await?;
                    since_commit += messages.len() as u64;
                    if let Outcome::Interrupted = outcome {
                        return Ok(());
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
