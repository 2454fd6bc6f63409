//! The projection runner: order, checkpoints, restarts, rebuilds, failures, shutdown.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_core::worker::{CatchUpError, ShutdownError, WaitError};
use cqrs_core::{
    EventStore, ExpectedVersion, FailureKind, InMemoryEventStore, JsonPayload, Metadata, NewEvent,
    Persistence, Projection, ProjectionRunner, RecordedEvent, RetryPolicy, RunnerConfig,
    RunnerError,
};

#[derive(Debug, thiserror::Error)]
#[error("projection refused position {0}")]
struct Refused(u64);

mod support;

/// Records positions; fails on `fail_at` for `failures` attempts, transiently when
/// `transient` is set.
#[derive(Default, Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<u64>>>,
    fail_at: Option<u64>,
    failures: Arc<AtomicU32>,
    transient: bool,
    /// Declares the recorded positions durable (they outlive a runner).
    durable: bool,
}

#[async_trait]
impl Projection for Recorder {
    type Error = Refused;
    fn name(&self) -> &str {
        "recorder"
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Refused> {
        if Some(event.position) == self.fail_at && self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(Refused(event.position));
        }
        self.seen.lock().unwrap().push(event.position);
        Ok(())
    }
    async fn reset(&mut self) -> Result<(), Refused> {
        self.seen.lock().unwrap().clear();
        Ok(())
    }
    fn persistence(&self) -> Persistence {
        if self.durable {
            Persistence::Durable
        } else {
            Persistence::InMemory
        }
    }
    fn failure_kind(&self, _: &Refused) -> FailureKind {
        if self.transient {
            FailureKind::Transient
        } else {
            FailureKind::Permanent
        }
    }
}

async fn append(store: &InMemoryEventStore, n: usize) {
    for i in 0..n {
        let e = NewEvent::raw(
            "Ticked",
            1,
            JsonPayload::from_value(&serde_json::json!({ "i": i })),
        );
        store
            .append(
                &format!("Clock-{}", i % 3),
                ExpectedVersion::Any,
                vec![e],
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
}

fn quick() -> RunnerConfig {
    RunnerConfig {
        batch_size: 4,
        idle_poll: Duration::from_secs(60),
        retry: RetryPolicy::attempts(3)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    }
}

#[tokio::test]
async fn applies_every_event_in_order_and_stores_the_checkpoint() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 10).await;
    let recorder = Recorder::default();
    let running = ProjectionRunner::new(store.clone(), recorder.clone())
        .with_config(quick())
        .spawn();
    running
        .wait_until_caught_up(Duration::from_secs(5))
        .await
        .unwrap();
    // Woken by the append, although the fallback poll is a minute.
    let started = Instant::now();
    append(&store, 5).await;
    running
        .wait_until_caught_up(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the runner must react to wake-ups"
    );
    running.shutdown().await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), (1..=15).collect::<Vec<_>>());
    assert_eq!(store.load_checkpoint("recorder").await.unwrap(), Some(15));
}

#[tokio::test]
async fn a_restarted_durable_projection_resumes_from_its_checkpoint() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 6).await;
    let durable = || Recorder {
        durable: true,
        ..Recorder::default()
    };
    let first = durable();
    let mut runner = ProjectionRunner::new(store.clone(), first.clone()).with_config(quick());
    assert_eq!(runner.catch_up().await.unwrap(), 6);
    append(&store, 3).await;
    let second = durable();
    let mut runner = ProjectionRunner::new(store.clone(), second.clone()).with_config(quick());
    runner.catch_up().await.unwrap();
    assert_eq!(
        *second.seen.lock().unwrap(),
        vec![7, 8, 9],
        "only what came after the checkpoint"
    );
}

#[tokio::test]
async fn a_restarted_in_memory_projection_replays_the_log_instead_of_resuming() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 6).await;
    let mut runner = ProjectionRunner::new(store.clone(), Recorder::default()).with_config(quick());
    runner.catch_up().await.unwrap();
    append(&store, 3).await;
    assert_eq!(store.load_checkpoint("recorder").await.unwrap(), Some(6));

    let restarted = Recorder::default();
    let mut runner = ProjectionRunner::new(store.clone(), restarted.clone()).with_config(quick());
    assert_eq!(runner.catch_up().await.unwrap(), 9);
    assert_eq!(*restarted.seen.lock().unwrap(), (1..=9).collect::<Vec<_>>());
    // Within one process the runner goes on from where it got to.
    append(&store, 2).await;
    assert_eq!(runner.catch_up().await.unwrap(), 11);
    assert_eq!(
        *restarted.seen.lock().unwrap(),
        (1..=11).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rebuild_replays_the_whole_log_identically() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 9).await;
    let recorder = Recorder::default();
    let mut runner = ProjectionRunner::new(store.clone(), recorder.clone()).with_config(quick());
    runner.catch_up().await.unwrap();
    let before = recorder.seen.lock().unwrap().clone();
    runner.rebuild().await.unwrap();
    assert!(recorder.seen.lock().unwrap().is_empty());
    assert_eq!(store.load_checkpoint("recorder").await.unwrap(), Some(0));
    runner.catch_up().await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), before);
}

#[tokio::test]
async fn transient_projection_errors_are_retried_past_the_attempt_limit_without_skipping() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 5).await;
    let recorder = Recorder {
        fail_at: Some(3),
        failures: Arc::new(AtomicU32::new(20)),
        transient: true,
        ..Recorder::default()
    };
    let mut runner = ProjectionRunner::new(store.clone(), recorder.clone()).with_config(quick());
    runner.catch_up().await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_store_outage_longer_than_the_attempt_limit_is_waited_out() {
    let store = Arc::new(support::FaultyStore::default());
    for i in 0..3 {
        let e = NewEvent::raw(
            "Ticked",
            1,
            JsonPayload::parse(format!(r#"{{"i":{i}}}"#)).unwrap(),
        );
        store
            .append(
                "Clock-1",
                ExpectedVersion::Any,
                vec![e],
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
    store.down.store(true, Ordering::SeqCst);
    let recorder = Recorder::default();
    let running = ProjectionRunner::new(store.clone() as Arc<dyn EventStore>, recorder.clone())
        .with_config(quick())
        .spawn();
    // Far more failed calls than the 3 attempts the policy allows for permanent failures.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !running.state().current().is_stopped(),
        "a transient outage never stops the runner"
    );
    store.down.store(false, Ordering::SeqCst);
    running
        .wait_for_position(3, Duration::from_secs(5))
        .await
        .unwrap();
    running.shutdown().await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn shutdown_ends_a_runner_waiting_out_a_store_outage() {
    let store = Arc::new(support::FaultyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let running = ProjectionRunner::new(store as Arc<dyn EventStore>, Recorder::default())
        .with_config(quick())
        .spawn();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let state = running.state();
    let stopped = tokio::time::timeout(Duration::from_secs(2), running.shutdown()).await;
    assert!(
        matches!(stopped, Ok(Ok(_))),
        "a shutdown during the outage is graceful: {:?}",
        stopped.map(|r| r.map(|_| ()))
    );
    assert_eq!(state.current(), cqrs_core::worker::WorkerState::ShutDown);
}

#[tokio::test]
async fn permanent_projection_errors_are_retried_per_policy() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 5).await;
    let recorder = Recorder {
        fail_at: Some(3),
        failures: Arc::new(AtomicU32::new(2)),
        ..Recorder::default()
    };
    let mut runner = ProjectionRunner::new(store.clone(), recorder.clone()).with_config(quick());
    runner.catch_up().await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_persistent_failure_stops_the_runner_at_the_failing_position() {
    let store = Arc::new(InMemoryEventStore::new());
    append(&store, 7).await;
    let recorder = Recorder {
        fail_at: Some(6),
        failures: Arc::new(AtomicU32::new(u32::MAX)),
        ..Recorder::default()
    };
    let running = ProjectionRunner::new(store.clone(), recorder.clone())
        .with_config(quick())
        .spawn();
    let waited = running.wait_until_caught_up(Duration::from_secs(5)).await;
    assert!(
        matches!(&waited, Err(CatchUpError::Wait(WaitError::Stopped { reason, .. })) if reason.contains("failed at position 6")),
        "a waiter learns why the runner stopped; got {waited:?}"
    );
    match running.shutdown().await {
        Err(ShutdownError::Failed(RunnerError::Projection {
            position,
            attempts,
            stream,
            ..
        })) => {
            assert_eq!((position, attempts), (6, 3));
            assert_eq!(stream, "Clock-2");
        }
        other => panic!("expected the projection error, got {:?}", other.map(|_| ())),
    }
    assert_eq!(*recorder.seen.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        store.load_checkpoint("recorder").await.unwrap(),
        Some(5),
        "the checkpoint stops just before the failing event"
    );
}

#[tokio::test]
async fn shutdown_stops_a_waiting_runner_promptly() {
    let store = Arc::new(InMemoryEventStore::new());
    let running = ProjectionRunner::new(store, Recorder::default())
        .with_config(quick())
        .spawn();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    running.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn waiting_while_the_runner_publishes_progress_never_deadlocks() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Arc::new(InMemoryEventStore::new());
            append(&store, 3000).await;
            let config = RunnerConfig {
                batch_size: 1,
                ..quick()
            };
            let running = ProjectionRunner::new(store.clone(), Recorder::default())
                .with_config(config)
                .spawn();
            // Many short waits race with the runner's progress updates.
            for target in 1..=3000 {
                let _ = running
                    .wait_for_position(target, Duration::from_micros(50))
                    .await;
            }
            running
                .wait_until_caught_up(Duration::from_secs(10))
                .await
                .unwrap();
            running.shutdown().await.unwrap();
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("waiters and the runner must never deadlock");
}
