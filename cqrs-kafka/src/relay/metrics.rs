//! The relay's metrics (see [`metric`]): `cqrs_relay_published_total`, counted per batch of
//! acknowledgements, and `cqrs_relay_lag_events`, the log's head minus the acknowledged
//! position.
//!
//! The head costs no query per event. It is the highest of:
//! 1. the last position read: a read that returned fewer events than asked reached the
//!    head, so a relay that keeps up knows it exactly;
//! 2. the head the store's wake-ups announced ([`PositionWatch::head`]), looked at on every
//!    report, so also while the in-flight window is full and the relay reads nothing (a
//!    relay held back by a slow broker then shows the events appended meanwhile);
//! 3. while the relay reads full batches (catching up, so 1. is only a lower bound), the
//!    store's [`head_position`](cqrs_core::EventStore::head_position), asked at most once
//!    per checkpoint interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_core::telemetry::metric;
use cqrs_core::PositionWatch;

/// What the relay knows of the log's head, and what it reported last.
pub(super) struct RelayMetrics {
    relay: Arc<str>,
    /// The store's wake-ups, for the head they announce.
    announced: PositionWatch,
    /// The highest head seen.
    head: u64,
    /// When the store was last asked for its head.
    asked: Option<Instant>,
    /// `(acked, head)` as last reported.
    reported: Option<(u64, u64)>,
}

impl RelayMetrics {
    /// The metrics of the relay `relay` (its checkpoint name), with the store's wake-ups.
    pub(super) fn new(relay: &str, announced: PositionWatch) -> Self {
        Self {
            relay: relay.into(),
            announced,
            head: 0,
            asked: None,
            reported: None,
        }
    }

    /// The head is at least `position` (the last one read).
    pub(super) fn saw_head(&mut self, position: u64) {
        self.head = self.head.max(position);
    }

    /// True when a full batch was read (the head may be further) and the store was not
    /// asked for its head within `interval`.
    pub(super) fn head_query_due(&self, full_batch: bool, interval: Duration) -> bool {
        full_batch && self.asked.map_or(true, |asked| asked.elapsed() >= interval)
    }

    /// The store answered `head` (or `None`: the query failed; it is asked again after the
    /// interval).
    pub(super) fn asked_head(&mut self, head: Option<u64>) {
        self.asked = Some(Instant::now());
        if let Some(head) = head {
            self.head = self.head.max(head);
        }
    }

    /// Counts `published` newly acknowledged events and sets the lag behind `acked`, if it
    /// changed; the head is at least the one announced now.
    pub(super) fn report(&mut self, published: u64, acked: u64) {
        metric::relay_published(&self.relay, published);
        self.head = self.head.max(self.announced.head());
        let head = self.head.max(acked);
        if self.reported != Some((acked, head)) {
            self.reported = Some((acked, head));
            metric::relay_lag(&self.relay, acked, head);
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_core::PositionNotifier;

    use super::*;

    #[test]
    fn the_head_is_the_highest_position_read_announced_or_asked() {
        let notifier = PositionNotifier::new();
        let mut metrics = RelayMetrics::new("relay", notifier.subscribe());
        metrics.saw_head(5);
        assert_eq!(metrics.head, 5);
        notifier.notify(9);
        metrics.saw_head(6);
        metrics.report(0, 0);
        assert_eq!(metrics.head, 9);
        metrics.asked_head(Some(12));
        metrics.asked_head(Some(3));
        metrics.asked_head(None);
        assert_eq!(metrics.head, 12);
    }

    #[test]
    fn every_report_sees_the_announced_head_without_a_read() {
        let notifier = PositionNotifier::new();
        let mut metrics = RelayMetrics::new("relay", notifier.subscribe());
        metrics.saw_head(2);
        metrics.report(0, 2);
        assert_eq!(metrics.reported, Some((2, 2)));
        // Nothing read since (a full in-flight window), but the store announced 7.
        notifier.notify(7);
        metrics.report(0, 2);
        assert_eq!(metrics.reported, Some((2, 7)), "5 events behind");
    }

    #[test]
    fn the_head_is_asked_only_after_full_batches_and_once_per_interval() {
        let mut metrics = RelayMetrics::new("relay", PositionNotifier::new().subscribe());
        let interval = Duration::from_secs(60);
        assert!(!metrics.head_query_due(false, interval));
        assert!(metrics.head_query_due(true, interval));
        metrics.asked_head(Some(1));
        assert!(!metrics.head_query_due(true, interval));
        assert!(metrics.head_query_due(true, Duration::ZERO));
    }
}
