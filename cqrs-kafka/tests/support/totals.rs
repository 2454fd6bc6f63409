//! A read model for the consumer tests: the sum of `amount` per stream, idempotent by
//! per-stream version, counting every delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cqrs_core::{Projection, RecordedEvent};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Totals {
    pub per_stream: HashMap<String, i64>,
    pub applied_version: HashMap<String, u64>,
    /// Every delivery, duplicates included.
    pub deliveries: u64,
    /// Deliveries recognised as duplicates and ignored.
    pub duplicates: u64,
}

impl Totals {
    /// Applies `event` unless its stream already moved past it.
    pub fn apply(&mut self, event: &RecordedEvent) {
        self.deliveries += 1;
        let applied = self
            .applied_version
            .entry(event.stream_id.to_string())
            .or_default();
        if event.stream_version <= *applied {
            self.duplicates += 1;
            return;
        }
        assert_eq!(
            event.stream_version,
            *applied + 1,
            "stream {} delivered in order",
            event.stream_id
        );
        *applied = event.stream_version;
        let amount = event.payload.to_value().expect("json")["amount"]
            .as_i64()
            .expect("amount");
        *self
            .per_stream
            .entry(event.stream_id.to_string())
            .or_default() += amount;
    }

    /// Distinct events applied.
    pub fn applied(&self) -> u64 {
        self.applied_version.values().sum()
    }

    /// The totals the events should produce.
    pub fn expected(events: &[RecordedEvent]) -> HashMap<String, i64> {
        let mut totals = HashMap::new();
        for event in events {
            let amount = event.payload.to_value().unwrap()["amount"]
                .as_i64()
                .unwrap();
            *totals.entry(event.stream_id.to_string()).or_default() += amount;
        }
        totals
    }
}

/// The projection over a shared [`Totals`]; optionally "crashes" (hangs forever) right
/// after applying its `crash_at`-th delivery, before the runner can commit it.
pub struct TotalsProjection {
    pub model: Arc<Mutex<Totals>>,
    pub crash_at: Option<u64>,
    pub crashed: Arc<Notify>,
    /// Time each delivery takes (to keep a run going while the group changes).
    pub pace: std::time::Duration,
}

impl TotalsProjection {
    pub fn new(model: Arc<Mutex<Totals>>) -> Self {
        Self {
            model,
            crash_at: None,
            crashed: Arc::new(Notify::new()),
            pace: std::time::Duration::ZERO,
        }
    }
}

#[async_trait]
impl Projection for TotalsProjection {
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        "totals"
    }
    fn persistence(&self) -> cqrs_core::Persistence {
        cqrs_core::Persistence::InMemory
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if !self.pace.is_zero() {
            tokio::time::sleep(self.pace).await;
        }
        let deliveries = {
            let mut model = self.model.lock().unwrap();
            model.apply(event);
            model.deliveries
        };
        if Some(deliveries) == self.crash_at {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Polls until the model applied `count` distinct events.
pub async fn wait_for_applied(
    model: &Arc<Mutex<Totals>>,
    count: u64,
    timeout: std::time::Duration,
) {
    let started = std::time::Instant::now();
    loop {
        let applied = model.lock().unwrap().applied();
        if applied >= count {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "applied {applied} of {count} events within {timeout:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
