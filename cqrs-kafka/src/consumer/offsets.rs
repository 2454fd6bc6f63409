//! Offsets of handled messages, committed by the runner and on partition revocation.
//!
//! The runner marks a message's offset only after its handler succeeded (or after the
//! message was dead-lettered). Marked offsets are committed periodically, when the
//! runner stops, and, through the rebalance callback, right before partitions are
//! revoked, so the next owner of a partition resumes exactly after the last handled
//! message. Revoked partitions are also remembered until the runner asks, so a batch
//! being collected drops its messages of partitions this member no longer owns.
//!
//! The context also keeps the member's [`PartitionPositions`]: the callback records which
//! partitions are assigned, the runner what it has done in each.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::positions::PartitionPositions;
use crate::logging;

/// The consumer's context: handled-but-uncommitted offsets, and the rebalance callback
/// that commits them before a revocation.
///
/// The mutex is shared with librdkafka's callback, which runs inside the runner's poll.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    /// Next offset to commit (last handled + 1) per (topic, partition), not yet committed.
    pending: Mutex<HashMap<(String, i32), i64>>,
    /// Partitions revoked since the runner last asked ([`OffsetTracker::take_revoked`]).
    revoked: Mutex<Vec<(String, i32)>>,
    /// The assigned partitions and what the runner has done in each.
    positions: Mutex<PartitionPositions>,
}

impl OffsetTracker {
    /// Records that the message at `offset` was handled.
    pub(crate) fn mark(&self, topic: &str, partition: i32, offset: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let next = pending.entry((topic.to_owned(), partition)).or_default();
        *next = (*next).max(offset + 1);
    }

    /// True when some handled offsets are not committed yet.
    pub(crate) fn has_pending(&self) -> bool {
        !self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Takes every pending offset, for a commit.
    pub(crate) fn take_all(&self) -> TopicPartitionList {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        to_list(pending.drain())
    }

    /// The partitions revoked since the last call, if any.
    pub(crate) fn take_revoked(&self) -> Option<Vec<(String, i32)>> {
        let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        (!revoked.is_empty()).then(|| std::mem::take(&mut *revoked))
    }

    /// Runs `update` on the member's partition positions; returns its result.
    pub(crate) fn positions<R>(&self, update: impl FnOnce(&mut PartitionPositions) -> R) -> R {
        let mut positions = self
            .positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        update(&mut positions)
    }

    /// Takes the pending offsets of the partitions in `revoked`, and remembers them as
    /// revoked.
    fn take_revoked_offsets(&self, revoked: &TopicPartitionList) -> TopicPartitionList {
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(
                revoked
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition())),
            );
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let taken: Vec<_> = revoked
            .elements()
            .iter()
            .filter_map(|e| {
                let key = (e.topic().to_owned(), e.partition());
                pending.remove(&key).map(|next| (key, next))
            })
            .collect();
        to_list(taken.into_iter())
    }
}

fn to_list(offsets: impl Iterator<Item = ((String, i32), i64)>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        if let Err(error) = list.add_partition_offset(&topic, partition, Offset::Offset(next)) {
            tracing::warn!(topic, partition, next, %error, "cannot add an offset to commit");
        }
    }
    list
}

impl ClientContext for OffsetTracker {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        logging::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        logging::client_error(&error, reason);
    }
}

impl ConsumerContext for OffsetTracker {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(revoked) => {
                self.positions(|positions| {
                    for e in revoked.elements() {
                        positions.revoke(e.topic(), e.partition());
                    }
                });
                let offsets = self.take_revoked_offsets(revoked);
                tracing::info!(
                    partitions = revoked.count(),
                    committing = offsets.count(),
                    "partitions revoked"
                );
                if offsets.count() > 0 {
                    if let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
                        tracing::warn!(%error, "commit on revocation failed; the next owner will see those messages again");
                    }
                }
            }
            Rebalance::Assign(assigned) => {
                self.positions(|positions| {
                    for e in assigned.elements() {
                        positions.assign(e.topic(), e.partition());
                    }
                });
                tracing::info!(partitions = assigned.count(), "partitions assigned");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::warn!(%error, partitions = offsets.count(), "offset commit failed; those messages may be delivered again");
        }
    }
}
