//! The processed position of a consumer: up to where in the event store's global log the
//! events it consumes are done with, for read-your-writes
//! ([`ConsumerStats::processed_position`](super::ConsumerStats::processed_position)).
//!
//! # Definition
//! The relay publishes the log in position order, each event to the partition of its
//! stream, with its position in the [`global-position`](crate::headers::GLOBAL_POSITION)
//! header; within a partition, positions only grow. So for each partition assigned to this
//! member, the highest position done in it (handled or dead-lettered), `done(p)`, says
//! that every event of that partition up to `done(p)` is done. A partition is **at its
//! end** when librdkafka reported that this member consumed everything up to its high
//! watermark and no message arrived since (an end-of-partition event,
//! `enable.partition.eof`). Then:
//!
//! - while some assigned partitions are not at their end, the processed position is the
//!   lowest `done(p)` among them: the next message of each has a higher position, unknown
//!   yet;
//! - when every assigned partition is at its end, it is the highest position this member
//!   has done (since it started): everything published so far is done, and an event the
//!   relay publishes later has a higher position than every one published before it.
//!
//! # Limits
//! - **Only this member's partitions.** A read model written by several members of one
//!   group (replicas writing one database) is at `P` when every member is; one member
//!   cannot know the others' progress. With several members, a read waiting on one member
//!   is guaranteed to see the events of that member's partitions only.
//! - **The relay's pipelining.** The relay has many events in flight and acknowledgements
//!   across partitions arrive in any order, so for a moment an event can be visible on its
//!   partition after a later event on another one. If this member is at the end of the
//!   first partition in that moment and has done the later event, it counts the earlier
//!   one as done before it arrived. That takes concurrent writers and lasts until the
//!   earlier event's acknowledgement (normally milliseconds).
//! - **Conservative after a start or a rebalance.** A newly assigned partition counts from
//!   0 until its first message or its end is reported, and when all partitions are at
//!   their end only positions this member has done count: after a restart on an idle log,
//!   a position from before the restart is reported as not processed until a newer event
//!   arrives.
//! - **Messages without a position** (not published by the relay, e.g. read with
//!   [`RawJsonDecoder`](crate::RawJsonDecoder)) move no `done(p)`.
//! - **Several topics.** librdkafka's Rust binding reports the end of a partition by its
//!   number only; when more than one assigned topic has that partition number, the report
//!   is ignored (those partitions then only count their `done(p)`: conservative).

use std::collections::BTreeMap;

/// Per partition: what this member has done and whether it is at the partition's end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PartitionPositions {
    partitions: BTreeMap<(String, i32), Partition>,
    /// The highest position done in any partition since the member started.
    highest: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Partition {
    /// Assigned to this member now (a revoked partition keeps its `done`: still true of it).
    assigned: bool,
    /// The highest position done in the partition (0: none).
    done: u64,
    /// Consumed up to the high watermark, and no message received since.
    at_end: bool,
}

impl PartitionPositions {
    /// `partition` of `topic` was assigned to this member: not at its end until reported.
    pub(crate) fn assign(&mut self, topic: &str, partition: i32) {
        let state = self
            .partitions
            .entry((topic.to_owned(), partition))
            .or_default();
        state.assigned = true;
        state.at_end = false;
    }

    /// `partition` of `topic` was revoked from this member.
    pub(crate) fn revoke(&mut self, topic: &str, partition: i32) {
        if let Some(state) = self.partitions.get_mut(&(topic.to_owned(), partition)) {
            state.assigned = false;
            state.at_end = false;
        }
    }

    /// A message of `partition` of `topic` with `position` (if it carries one) is done.
    /// Call in the order the messages were received.
    pub(crate) fn done(&mut self, topic: &str, partition: i32, position: Option<u64>) {
        let key = (topic.to_owned(), partition);
        let Some(state) = self.partitions.get_mut(&key).filter(|state| state.assigned) else {
            return; // revoked meanwhile: its new owner handles it
        };
        state.at_end = false;
        if let Some(position) = position {
            state.done = state.done.max(position);
            self.highest = self.highest.max(position);
        }
    }

    /// librdkafka reported the end of `partition` (of some assigned topic): every message
    /// received before the report is done. Ignored when the partition number is assigned
    /// in more than one topic (the report does not say which).
    pub(crate) fn reached_end(&mut self, partition: i32) {
        let mut matching = self
            .partitions
            .iter_mut()
            .filter(|((_, p), state)| *p == partition && state.assigned);
        if let (Some((_, state)), None) = (matching.next(), matching.next()) {
            state.at_end = true;
        }
    }

    /// The processed position (see the [module docs](self)).
    pub(crate) fn processed(&self) -> u64 {
        let assigned = self.partitions.values().filter(|state| state.assigned);
        assigned
            .filter(|state| !state.at_end)
            .map(|state| state.done)
            .min()
            .unwrap_or(self.highest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(partitions: i32) -> PartitionPositions {
        let mut positions = PartitionPositions::default();
        for partition in 0..partitions {
            positions.assign("Order", partition);
        }
        positions
    }

    #[test]
    fn an_idle_partition_at_its_end_does_not_hold_the_others_back() {
        let mut positions = member(3);
        // The log: 1 -> p0, 2 -> p1, 3 -> p0, 4 -> p1; nothing ever goes to p2.
        positions.reached_end(2);
        for (partition, position) in [(0, 1), (1, 2), (0, 3)] {
            positions.done("Order", partition, Some(position));
        }
        assert_eq!(positions.processed(), 2, "p1 may still hold 3 and above");
        positions.reached_end(0);
        assert_eq!(positions.processed(), 2, "p1 is not at its end");
        positions.done("Order", 1, Some(4));
        assert_eq!(positions.processed(), 4, "p1's next event is above 4");
        positions.reached_end(1);
        assert_eq!(positions.processed(), 4, "everything published is done");
    }

    #[test]
    fn when_every_partition_is_at_its_end_only_done_positions_count() {
        let mut positions = member(2);
        positions.reached_end(0);
        positions.reached_end(1);
        assert_eq!(
            positions.processed(),
            0,
            "nothing done yet: 1 is not processed"
        );
        positions.done("Order", 0, Some(7));
        positions.reached_end(0);
        assert_eq!(
            positions.processed(),
            7,
            "not 8: it may not be published yet"
        );
    }

    #[test]
    fn a_message_after_the_end_makes_the_partition_pending_again() {
        let mut positions = member(2);
        positions.done("Order", 0, Some(5));
        positions.done("Order", 1, Some(6));
        positions.reached_end(0);
        positions.reached_end(1);
        assert_eq!(positions.processed(), 6);
        positions.done("Order", 0, Some(9));
        assert_eq!(positions.processed(), 9, "p0 has done 9, p1 is at its end");
        positions.assign("Order", 2);
        assert_eq!(
            positions.processed(),
            0,
            "a new partition counts from nothing"
        );
        positions.reached_end(2);
        assert_eq!(positions.processed(), 9);
    }

    #[test]
    fn a_revoked_partition_no_longer_counts_and_keeps_what_was_done() {
        let mut positions = member(2);
        positions.done("Order", 0, Some(3));
        positions.done("Order", 1, Some(4));
        assert_eq!(positions.processed(), 3);
        positions.revoke("Order", 0);
        assert_eq!(positions.processed(), 4);
        positions.done("Order", 0, Some(8)); // in flight when revoked: not counted
        positions.assign("Order", 0);
        assert_eq!(
            positions.processed(),
            3,
            "done before the revocation still holds"
        );
    }

    #[test]
    fn an_end_report_naming_a_partition_of_several_topics_is_ignored() {
        let mut positions = member(1);
        positions.assign("Product", 0);
        positions.done("Order", 0, Some(2));
        positions.done("Product", 0, Some(3));
        positions.reached_end(0);
        assert_eq!(
            positions.processed(),
            2,
            "which topic's partition 0 ended is unknown"
        );
        positions.revoke("Product", 0);
        positions.reached_end(0);
        assert_eq!(positions.processed(), 3);
    }

    #[test]
    fn messages_without_a_position_move_nothing_but_are_pending() {
        let mut positions = member(1);
        positions.done("Order", 0, Some(2));
        positions.reached_end(0);
        positions.done("Order", 0, None);
        assert_eq!(positions.processed(), 2);
    }
}
