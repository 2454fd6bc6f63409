//! The progress of a Kafka-fed read model, `cqrs_projection_position` and
//! `cqrs_projection_lag_events` (see [`metric`](cqrs_core::telemetry::metric)), for a
//! handler that names its projection ([`MessageHandler::projection_name`](crate::MessageHandler::projection_name);
//! [`ProjectionHandler`](crate::ProjectionHandler) does), per partition:
//!
//! - `projection` is that name, `shard` the partition number;
//! - `cqrs_projection_position` is the highest global position done in the
//!   partition (applied, or dead-lettered): its [`global-position`](crate::headers::GLOBAL_POSITION)
//!   header, else the position its decoder gave it; a message with neither moves nothing;
//! - `cqrs_projection_lag_events` is the partition's high watermark minus the offset after
//!   that message: the messages behind it, which on a relay topic (one message per event)
//!   are events. The high watermark is the one librdkafka cached from its last fetch
//!   response of the partition (`rd_kafka_get_watermark_offsets`: no request to the
//!   broker); the response that brought a message also brought a watermark past it. When
//!   librdkafka reports the partition's end (everything up to its high watermark
//!   consumed, and done), the lag is 0.
//!
//! Both are set once a message is done (its offset marked for commit), with handles
//! registered once per partition: install the recorder before the runner starts.
//!
//! # Limits
//! - **As of the last message done.** While the handler works on (or retries) a message,
//!   the lag says how many were behind it when the previous one was done; messages that
//!   arrived since are counted once it is done.
//! - **Only this member's partitions**, and a partition revoked from this member keeps the
//!   values it had here (its new owner reports its own).
//! - **Several topics** with the same partition number share a shard: its position is the
//!   highest of theirs, its lag the sum; an end report for such a partition number is
//!   ignored (it does not say which topic ended).

use std::ffi::{CStr, CString};

use cqrs_core::telemetry::metric::ProjectionGauges;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};

/// The high watermarks a consumer knows without asking the broker.
pub(crate) trait Watermarks {
    /// The cached high watermark of `partition` of `topic` (the offset its next message
    /// will get), if known.
    fn high_watermark(&self, topic: &CStr, partition: i32) -> Option<i64>;
}

impl<C: ConsumerContext + 'static> Watermarks for StreamConsumer<C> {
    fn high_watermark(&self, topic: &CStr, partition: i32) -> Option<i64> {
        use rdkafka::bindings::{rd_kafka_get_watermark_offsets, rd_kafka_resp_err_t};
        let (mut low, mut high) = (-1_i64, -1_i64);
        // SAFETY: the client pointer stays valid while `self` is borrowed; `topic` is a
        // NUL-terminated string that outlives the call; `low` and `high` are valid for
        // writes. The function sends no request and runs no callback: it looks the
        // partition up under the client's lock (creating a local placeholder for one it
        // does not know, whose offsets read as invalid, negative) and copies its cached
        // offsets.
        let error = unsafe {
            rd_kafka_get_watermark_offsets(
                self.client().native_ptr(),
                topic.as_ptr(),
                partition,
                &mut low,
                &mut high,
            )
        };
        // Before the first fetch response the watermark is invalid (negative).
        (error == rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
    }
}

/// The progress gauges of one Kafka-fed projection.
pub(crate) struct ProjectionProgress {
    projection: String,
    /// What was done per topic and partition.
    partitions: Vec<TopicPartition>,
    /// The gauges per partition number, registered at its first message.
    shards: Vec<Shard>,
}

struct TopicPartition {
    topic: String,
    /// The topic for librdkafka (`None`: a name with a NUL, never a Kafka topic).
    c_topic: Option<CString>,
    partition: i32,
    /// The highest global position done.
    position: Option<u64>,
    /// Messages behind the last one done.
    lag: Option<u64>,
}

struct Shard {
    partition: i32,
    gauges: ProjectionGauges,
}

impl ProjectionProgress {
    /// The gauges of the projection `projection`.
    pub(crate) fn new(projection: &str) -> Self {
        Self {
            projection: projection.to_owned(),
            partitions: Vec::new(),
            shards: Vec::new(),
        }
    }

    /// The message at `offset` of `partition` of `topic`, with `position` if it carries
    /// one, is done; `watermarks` tells how many are behind it.
    pub(crate) fn done(
        &mut self,
        watermarks: &impl Watermarks,
        topic: &str,
        partition: i32,
        offset: i64,
        position: Option<u64>,
    ) {
        let at = match self
            .partitions
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
        {
            Some(at) => at,
            None => {
                self.partitions.push(TopicPartition {
                    topic: topic.to_owned(),
                    c_topic: CString::new(topic).ok(),
                    partition,
                    position: None,
                    lag: None,
                });
                self.partitions.len() - 1
            }
        };
        let state = &mut self.partitions[at];
        if let Some(position) = position {
            state.position = Some(state.position.map_or(position, |p| p.max(position)));
        }
        let high = state
            .c_topic
            .as_deref()
            .and_then(|topic| watermarks.high_watermark(topic, partition));
        if let Some(high) = high {
            state.lag = Some(u64::try_from(high - (offset + 1)).unwrap_or(0));
        }
        self.publish(partition);
    }

    /// librdkafka reported the end of `partition`: nothing is behind what was done there.
    /// Ignored for a partition number of several topics, or of none done yet.
    pub(crate) fn reached_end(&mut self, partition: i32) {
        let mut matching = self
            .partitions
            .iter_mut()
            .filter(|p| p.partition == partition);
        if let (Some(state), None) = (matching.next(), matching.next()) {
            state.lag = Some(0);
            self.publish(partition);
        }
    }

    /// Sets the gauges of `partition` from what was done in it.
    fn publish(&mut self, partition: i32) {
        let (mut position, mut lag) = (None::<u64>, None::<u64>);
        for state in self.partitions.iter().filter(|p| p.partition == partition) {
            if let Some(done) = state.position {
                position = Some(position.map_or(done, |p| p.max(done)));
            }
            if let Some(behind) = state.lag {
                lag = Some(lag.unwrap_or(0) + behind);
            }
        }
        let shard = match self.shards.iter().position(|s| s.partition == partition) {
            Some(at) => &self.shards[at],
            None => {
                // Kafka partition numbers are never negative.
                let gauges = ProjectionGauges::register(&self.projection, partition.max(0) as u32);
                self.shards.push(Shard { partition, gauges });
                &self.shards[self.shards.len() - 1]
            }
        };
        if let Some(position) = position {
            shard.gauges.set_position(position);
        }
        if let Some(lag) = lag {
            shard.gauges.set_lag(lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;
    use cqrs_core::telemetry::metric::{PROJECTION_LAG_EVENTS, PROJECTION_POSITION};

    /// Cached high watermarks by (topic, partition).
    #[derive(Default)]
    struct Cached(HashMap<(String, i32), i64>);

    impl Watermarks for Cached {
        fn high_watermark(&self, topic: &CStr, partition: i32) -> Option<i64> {
            let topic = topic.to_str().ok()?.to_owned();
            self.0.get(&(topic, partition)).copied()
        }
    }

    /// The gauges recorded by `run`, as (name, shard, value), sorted.
    fn gauges(run: impl FnOnce()) -> Vec<(String, String, f64)> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, run);
        let mut gauges: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let label = |name: &str| {
                    key.key()
                        .labels()
                        .find(|l| l.key() == name)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                };
                assert_eq!(label("projection"), "view");
                let DebugValue::Gauge(value) = value else {
                    panic!("a gauge");
                };
                (key.key().name().to_owned(), label("shard"), value.0)
            })
            .collect();
        gauges.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        gauges
    }

    fn gauge(name: &str, shard: &str, value: f64) -> (String, String, f64) {
        (name.to_owned(), shard.to_owned(), value)
    }

    #[test]
    fn each_partition_reports_its_last_position_and_the_messages_behind_it() {
        let mut cached = Cached::default();
        cached.0.insert(("Order".into(), 0), 10);
        cached.0.insert(("Order".into(), 2), 4);
        let recorded = gauges(|| {
            let mut progress = ProjectionProgress::new("view");
            progress.done(&cached, "Order", 0, 6, Some(31));
            progress.done(&cached, "Order", 2, 3, Some(35));
            // Not decodable, no header: the position stays, the lag moves.
            progress.done(&cached, "Order", 0, 7, None);
        });
        assert_eq!(
            recorded,
            [
                gauge(PROJECTION_LAG_EVENTS, "0", 2.0),
                gauge(PROJECTION_LAG_EVENTS, "2", 0.0),
                gauge(PROJECTION_POSITION, "0", 31.0),
                gauge(PROJECTION_POSITION, "2", 35.0),
            ]
        );
    }

    #[test]
    fn the_end_of_a_partition_is_no_lag_and_an_unknown_watermark_keeps_the_last() {
        let mut cached = Cached::default();
        cached.0.insert(("Order".into(), 1), 5);
        let recorded = gauges(|| {
            let mut progress = ProjectionProgress::new("view");
            progress.done(&cached, "Order", 1, 1, Some(3));
            progress.done(&Cached::default(), "Order", 1, 2, Some(8));
        });
        assert_eq!(
            recorded,
            [
                gauge(PROJECTION_LAG_EVENTS, "1", 3.0),
                gauge(PROJECTION_POSITION, "1", 8.0),
            ]
        );
        let recorded = gauges(|| {
            let mut progress = ProjectionProgress::new("view");
            progress.done(&cached, "Order", 1, 1, Some(3));
            progress.reached_end(1);
        });
        assert_eq!(recorded[0], gauge(PROJECTION_LAG_EVENTS, "1", 0.0));
    }

    #[test]
    fn topics_sharing_a_partition_number_share_its_shard() {
        let mut cached = Cached::default();
        cached.0.insert(("Order".into(), 0), 10);
        cached.0.insert(("Invoice".into(), 0), 3);
        let recorded = gauges(|| {
            let mut progress = ProjectionProgress::new("view");
            progress.done(&cached, "Order", 0, 4, Some(20));
            progress.done(&cached, "Invoice", 0, 0, Some(12));
            progress.reached_end(0); // which topic's end: unknown, ignored
        });
        assert_eq!(
            recorded,
            [
                gauge(PROJECTION_LAG_EVENTS, "0", 7.0),
                gauge(PROJECTION_POSITION, "0", 20.0),
            ]
        );
    }
}
