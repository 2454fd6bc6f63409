//! A metrics recorder for tests that keeps every update in order: counters are summed,
//! and a gauge's whole history is kept (so "the lag was 3, then 0" can be asserted).
//!
//! `metrics_util`'s `DebuggingRecorder` resets every counter and gauge to 0 when it takes
//! a snapshot, so a gauge set to 0 cannot be told from one read before; hence this one.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};

/// One update of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Update {
    Increment(u64),
    Set(f64),
}

/// Every update recorded in this process, in order.
#[derive(Debug, Default)]
pub struct History {
    updates: Mutex<Vec<(Key, Update)>>,
}

impl History {
    fn push(&self, key: &Key, update: Update) {
        self.updates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key.clone(), update));
    }

    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<Update> {
        let updates = self.updates.lock().unwrap_or_else(PoisonError::into_inner);
        updates
            .iter()
            .filter(|(key, _)| {
                key.name() == name
                    && labels.iter().all(|(label, value)| {
                        key.labels()
                            .any(|l| l.key() == *label && l.value() == *value)
                    })
            })
            .map(|(_, update)| *update)
            .collect()
    }

    /// The sum of the increments of the counters `name` with all of `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .into_iter()
            .map(|update| match update {
                Update::Increment(n) => n,
                Update::Set(_) => panic!("`{name}` is a gauge"),
            })
            .sum()
    }

    /// Every value the gauge `name` with all of `labels` was set to, in order.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.matching(name, labels)
            .into_iter()
            .map(|update| match update {
                Update::Set(value) => value,
                Update::Increment(_) => panic!("`{name}` is a counter"),
            })
            .collect()
    }

    /// The last value of that gauge, if it was ever set.
    pub fn last(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.gauge(name, labels).last().copied()
    }
}

/// The history of the process-wide recorder, installed on first use.
pub fn recorded() -> &'static History {
    static HISTORY: OnceLock<Arc<History>> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let history = Arc::new(History::default());
        metrics::set_global_recorder(Recording(history.clone()))
            .expect("the only recorder of this test binary");
        history
    })
}

struct Recording(Arc<History>);

struct Handle {
    key: Key,
    history: Arc<History>,
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.history.push(&self.key, Update::Increment(value));
    }

    fn absolute(&self, _: u64) {
        panic!("the libraries only increment counters");
    }
}

impl GaugeFn for Handle {
    fn increment(&self, _: f64) {
        panic!("the libraries only set gauges");
    }

    fn decrement(&self, _: f64) {
        panic!("the libraries only set gauges");
    }

    fn set(&self, value: f64) {
        self.history.push(&self.key, Update::Set(value));
    }
}

impl Recording {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        Arc::new(Handle {
            key: key.clone(),
            history: self.0.clone(),
        })
    }
}

impl Recorder for Recording {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}
