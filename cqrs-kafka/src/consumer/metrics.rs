//! `cqrs_consumer_messages_total` (see [`metric`]): what a runner did with each message,
//! per topic. A batch is counted with one call per run of messages of one topic and
//! outcome, not one per message.
//!
//! - `handled`: the handler accepted it, and its offset was marked for commit;
//! - `dead_lettered`: the dead-letter topic acknowledged it, and its offset was marked;
//! - `retried`: its batch failed transiently ([`HandlerError::Transient`](crate::HandlerError::Transient))
//!   and will be handed again: one count per message per failed attempt.

use cqrs_core::telemetry::metric::{self, ConsumerOutcome};

/// Counts messages, flushing a run of one topic and outcome when the next message differs
/// and when dropped.
#[derive(Default)]
pub(crate) struct MessageCounter<'t> {
    run: Option<(&'t str, ConsumerOutcome, u64)>,
}

impl<'t> MessageCounter<'t> {
    /// One more message of `topic` done with `outcome`.
    pub(crate) fn count(&mut self, topic: &'t str, outcome: ConsumerOutcome) {
        match &mut self.run {
            Some((run_topic, run_outcome, messages))
                if *run_topic == topic && *run_outcome == outcome =>
            {
                *messages += 1;
            }
            _ => {
                self.flush();
                self.run = Some((topic, outcome, 1));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((topic, outcome, messages)) = self.run.take() {
            metric::consumer_messages(topic, outcome, messages);
        }
    }
}

impl Drop for MessageCounter<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn runs_of_one_topic_and_outcome_are_counted_together() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let mut counter = MessageCounter::default();
            for (topic, outcome) in [
                ("a", ConsumerOutcome::Handled),
                ("a", ConsumerOutcome::Handled),
                ("b", ConsumerOutcome::Handled),
                ("a", ConsumerOutcome::DeadLettered),
                ("a", ConsumerOutcome::Handled),
            ] {
                counter.count(topic, outcome);
            }
        });
        let mut counts: Vec<(String, String, u64)> = snapshotter
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
                let DebugValue::Counter(n) = value else {
                    panic!("a counter");
                };
                (label("topic"), label("outcome"), n)
            })
            .collect();
        counts.sort();
        let expected = [
            ("a", "dead_lettered", 1),
            ("a", "handled", 3),
            ("b", "handled", 1),
        ]
        .map(|(t, o, n)| (t.to_owned(), o.to_owned(), n));
        assert_eq!(counts, expected);
    }
}
