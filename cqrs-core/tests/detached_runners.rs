//! A runner whose handle was dropped (detached) keeps following the log, waiting for
//! wake-ups instead of re-reading the store in a loop: both the projection runner and the
//! transactional runner.

mod transactional;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{
    Persistence, Projection, ProjectionRunner, RecordedEvent, RunnerConfig, TransactionalRunner,
};
use transactional::{eventually, Ledger, TestStore};

const WAIT: Duration = Duration::from_secs(10);

fn idle_for_long() -> RunnerConfig {
    RunnerConfig {
        idle_poll: Duration::from_secs(30),
        ..RunnerConfig::default()
    }
}

#[tokio::test]
async fn a_detached_transactional_runner_follows_new_events_without_spinning() {
    let store = Arc::new(TestStore::default());
    store.append_events(2).await;
    let running = TransactionalRunner::new(store.clone(), Ledger::default())
        .with_config(idle_for_long())
        .spawn();
    running.wait_until_caught_up(WAIT).await.expect("caught up");
    drop(running);
    let locks = store.calls.locks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        store.calls.locks.load(Ordering::SeqCst) <= locks + 1,
        "the idle runner does not re-read the store"
    );
    let new = store.append_events(1).await[0];
    let applied = eventually(WAIT, || {
        let store = store.clone();
        async move { store.model().await.applied.contains(&new) }
    })
    .await;
    assert!(applied, "the wake-up brings the runner back");
}

/// Counts the events it saw, in a shared counter that outlives the runner.
#[derive(Default)]
struct Seen(Arc<std::sync::atomic::AtomicU64>);

#[async_trait]
impl Projection for Seen {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "seen"
    }
    fn persistence(&self) -> Persistence {
        Persistence::InMemory
    }
    async fn apply(&mut self, _: &RecordedEvent) -> Result<(), Self::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_detached_projection_runner_follows_new_events_without_spinning() {
    let store = Arc::new(TestStore::default());
    store.append_events(2).await;
    let seen = Seen::default();
    let count = seen.0.clone();
    let running = ProjectionRunner::new(store.clone(), seen)
        .with_config(idle_for_long())
        .spawn();
    running.wait_until_caught_up(WAIT).await.expect("caught up");
    drop(running);
    let reads = store.calls.reads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        store.calls.reads.load(Ordering::SeqCst) <= reads + 1,
        "the idle runner does not re-read the store"
    );
    store.append_events(1).await;
    let applied = eventually(WAIT, || {
        let count = count.clone();
        async move { count.load(Ordering::SeqCst) == 3 }
    })
    .await;
    assert!(applied, "the wake-up brings the runner back");
}
