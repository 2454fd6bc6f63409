//! Receiving a batch: the first message, then whatever arrives within the linger.

use std::time::{Duration, Instant};

use cqrs_core::worker::stop_requested;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::watch;

use super::offsets::OffsetTracker;

/// What waiting for messages gave.
pub(crate) enum Received<'c> {
    /// One or more messages, in the order librdkafka delivered them (offset order within
    /// each partition), none of a partition revoked since it was received; and `end`, the
    /// partition whose end librdkafka reported right after them, if it did (a report ends
    /// the batch, so it holds for every message of the batch).
    Batch {
        /// The messages.
        messages: Vec<BorrowedMessage<'c>>,
        /// The partition reported at its end after them.
        end: Option<i32>,
    },
    /// librdkafka reported that this member consumed a partition up to its high watermark
    /// (see [`positions`](super::positions)); no message came before the report.
    End(i32),
    /// No message to handle: the commit timer fired (handled offsets wait for their
    /// periodic commit), or a revocation emptied the batch.
    Idle,
    /// A stop was requested; messages received meanwhile are dropped (not handled, so not
    /// committed: they will be delivered again).
    Stop,
    /// Receiving failed before any message arrived.
    Failed(KafkaError),
}

/// How many messages a batch holds at most, and how long it waits for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_len: usize,
    pub(crate) max_wait: Duration,
}

/// Waits for a first message (or a stop, or `commit_due`), then collects more for at
/// most `limits.max_wait`, up to `limits.max_len` messages.
///
/// librdkafka runs the rebalance callback inside `recv`: when partitions are revoked
/// while a batch is being collected, the batch's messages of those partitions are
/// dropped. Their new owner gets them from the committed offset, and this member never
/// handles (nor commits) a partition it no longer owns.
pub(crate) async fn next_batch<'c>(
    consumer: &'c StreamConsumer<OffsetTracker>,
    limits: Limits,
    stop: &mut watch::Receiver<bool>,
    commit_due: Option<Instant>,
) -> Received<'c> {
    let commit_timer = async {
        match commit_due {
            Some(due) => tokio::time::sleep_until(due.into()).await,
            None => std::future::pending().await,
        }
    };
    let first = tokio::select! {
        () = stop_requested(stop) => return Received::Stop,
        () = commit_timer => return Received::Idle,
        received = consumer.recv() => match received {
            Ok(message) => message,
            Err(KafkaError::PartitionEOF(partition)) => return Received::End(partition),
            Err(error) => return Received::Failed(error),
        },
    };
    let tracker = consumer.context();
    // A revocation reported before `first` concerned messages received before it: none.
    tracker.take_revoked();
    let mut batch = vec![first];
    let mut end = None;
    let deadline = tokio::time::Instant::now() + limits.max_wait;
    while batch.len() < limits.max_len {
        let received = tokio::select! {
            () = stop_requested(stop) => return Received::Stop,
            () = tokio::time::sleep_until(deadline) => break,
            received = consumer.recv() => received,
        };
        if let Some(revoked) = tracker.take_revoked() {
            batch.retain(|m| !revoked.contains(&(m.topic().to_owned(), m.partition())));
        }
        match received {
            Ok(message) => {
                // A message after a partition's end report: that partition is not at its
                // end any more.
                if end == Some(message.partition()) {
                    end = None;
                }
                batch.push(message);
            }
            // The batch goes on filling (a trickle of messages still makes full batches);
            // the report is applied with it. Of several reports only the last is kept,
            // which can only make the processed position lag, never run ahead.
            Err(KafkaError::PartitionEOF(partition)) => end = Some(partition),
            Err(error) => {
                tracing::warn!(%error, "receiving from Kafka failed; handling the batch so far");
                break;
            }
        }
    }
    match (batch.is_empty(), end) {
        (false, end) => Received::Batch {
            messages: batch,
            end,
        },
        (true, Some(partition)) => Received::End(partition),
        (true, None) => Received::Idle,
    }
}
