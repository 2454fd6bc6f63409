//! The one batch loop of `TransactionalRunner`, against a test store adapter: rollback of a
//! failing batch, exactly-once effect, transient failures retried for as long as they last,
//! permanent ones stopping at their position, graceful shutdown, concurrent runners.

mod transactional;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::{ShutdownError, WorkerState};
use cqrs_core::{
    RetryPolicy, RunnerConfig, RunnerError, TransactionalProjection, TransactionalRunner,
    TransactionalStore,
};
use transactional::{eventually, Fault, Ledger, TestStore};

fn config(batch_size: usize) -> RunnerConfig {
    RunnerConfig {
        batch_size,
        idle_poll: Duration::from_millis(20),
        retry: RetryPolicy::attempts(2)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(2)),
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_failure_mid_batch_rolls_back_the_batch_and_the_retry_applies_each_event_once() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(10).await;
    // The second batch (events 5..=8) fails at event 6, after writing 5 and 6.
    let ledger = Ledger::failing(positions[5], Fault::StoreTransient, 1);
    let mut runner = TransactionalRunner::new(store.clone(), ledger.clone()).with_config(config(4));

    let error = runner
        .catch_up()
        .await
        .expect_err("by hand, the failure is returned");
    assert!(
        matches!(&error, RunnerError::Projection { position, attempts: 1, .. } if *position == positions[5]),
        "{error}"
    );
    let committed = store.committed().await;
    assert_eq!(committed.checkpoints["ledger"], positions[3]);
    assert_eq!(
        committed.model.applied,
        positions[..4],
        "the failed batch left no trace"
    );
    assert!(
        ledger.seen.lock().unwrap().contains(&positions[5]),
        "it was applied, then rolled back"
    );

    assert_eq!(runner.catch_up().await.expect("retry"), positions[9]);
    assert_eq!(
        store.model().await.applied,
        positions,
        "each event applied exactly once"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_past_the_attempt_limit_without_skipping() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(6).await;
    store.faults.begin.store(3, Ordering::SeqCst);
    // Classified by the store (its source is `Unavailable`): transient, 5 times, while the
    // policy allows 2 attempts.
    let ledger = Ledger::failing(positions[2], Fault::StoreTransient, 5);
    let running = TransactionalRunner::new(store.clone(), ledger.clone())
        .with_config(config(4))
        .spawn();

    running
        .wait_for_position(positions[5], WAIT)
        .await
        .expect("the runner gets past the failures");
    assert_eq!(
        ledger.attempts.load(Ordering::SeqCst),
        6,
        "5 failures, then success"
    );
    assert_eq!(
        store.model().await.applied,
        positions,
        "nothing skipped, nothing twice"
    );
    assert_eq!(running.state().current(), WorkerState::Running);
    running.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn a_permanent_failure_stops_at_its_position_with_the_events_before_it_committed() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(6).await;
    // Classified by the store (its source is `InvalidInput`): permanent.
    let ledger = Ledger::failing(positions[3], Fault::StorePermanent, u32::MAX);
    let running = TransactionalRunner::new(store.clone(), ledger.clone())
        .with_config(RunnerConfig {
            retry: RetryPolicy::attempts(5),
            ..config(10)
        })
        .spawn();

    let stopped = tokio::time::timeout(WAIT, running.state().stopped())
        .await
        .expect("the runner stops");
    let WorkerState::Failed(reason) = stopped else {
        panic!("the runner did not fail: {stopped:?}");
    };
    assert!(
        reason.contains(&format!("position {}", positions[3])) && reason.contains("1 attempts"),
        "{reason}"
    );
    assert_eq!(ledger.attempts.load(Ordering::SeqCst), 1, "not retried");
    assert_eq!(running.progress().checkpoint, positions[2]);
    let committed = store.committed().await;
    assert_eq!(
        committed.checkpoints["ledger"], positions[2],
        "right before the event"
    );
    assert_eq!(committed.model.applied, positions[..3]);
    match running.shutdown().await {
        Err(ShutdownError::Failed(RunnerError::Projection {
            position,
            stream,
            event_type,
            attempts: 1,
            ..
        })) => {
            assert_eq!(position, positions[3]);
            assert_eq!((stream.as_str(), event_type.as_str()), ("S-0", "Ticked"));
        }
        other => panic!("unexpected end: {other:?}"),
    }
}

#[tokio::test]
async fn the_projections_own_classification_overrides_the_stores() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(3).await;
    // The store would call it transient; the projection says permanent.
    let ledger = Ledger::failing(positions[1], Fault::OwnPermanent, u32::MAX);
    let running = TransactionalRunner::new(store.clone(), ledger.clone())
        .with_config(config(10))
        .spawn();
    let stopped = tokio::time::timeout(WAIT, running.state().stopped()).await;
    assert!(matches!(stopped, Ok(WorkerState::Failed(_))), "{stopped:?}");
    assert_eq!(ledger.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(store.model().await.applied, positions[..1]);
}

#[tokio::test]
async fn a_shutdown_during_a_retry_wait_is_a_graceful_stop() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(3).await;
    let ledger = Ledger::failing(positions[1], Fault::StoreTransient, u32::MAX);
    let running = TransactionalRunner::new(store.clone(), ledger.clone())
        .with_config(RunnerConfig {
            retry: RetryPolicy::attempts(1)
                .with_backoff(Duration::from_secs(60), Duration::from_secs(60)),
            ..config(10)
        })
        .spawn();
    let attempts = ledger.attempts.clone();
    assert!(
        eventually(WAIT, || {
            let attempts = attempts.clone();
            async move { attempts.load(Ordering::SeqCst) >= 1 }
        })
        .await,
        "the runner fails once and waits"
    );
    let state = running.state();
    let projection = running
        .shutdown_within(Duration::from_secs(5))
        .await
        .expect("the wait ends with a graceful stop, not a failure");
    assert_eq!(projection.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(state.current(), WorkerState::ShutDown);
    let committed = store.committed().await;
    assert_eq!(
        committed.checkpoints.get("ledger"),
        None,
        "nothing committed"
    );
    assert!(
        committed.model.applied.is_empty(),
        "the failed batch was rolled back"
    );
}

#[tokio::test]
async fn a_commit_whose_result_is_lost_is_not_applied_twice() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(8).await;
    // The first batch commits, then its commit reports a lost connection; a later commit
    // fails without landing.
    store
        .faults
        .commit_lands_then_fails
        .store(1, Ordering::SeqCst);
    let running = TransactionalRunner::new(store.clone(), Ledger::default())
        .with_config(config(3))
        .spawn();
    running
        .wait_for_position(positions[7], WAIT)
        .await
        .expect("caught up");
    store.faults.commit.store(1, Ordering::SeqCst);
    let more = store.append_events(2).await;
    running
        .wait_for_position(more[1], WAIT)
        .await
        .expect("caught up again");
    running.shutdown().await.expect("shutdown");
    let expected: Vec<u64> = positions.iter().chain(&more).copied().collect();
    assert_eq!(
        store.model().await.applied,
        expected,
        "each event exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_of_one_projection_take_turns_and_never_apply_an_event_twice() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(60).await;
    let a = TransactionalRunner::new(store.clone(), Ledger::default())
        .with_config(config(3))
        .spawn();
    let b = TransactionalRunner::new(store.clone(), Ledger::default())
        .with_config(config(3))
        .spawn();
    let more = store.append_events(30).await;
    let last = more[29];
    a.wait_for_position(last, WAIT).await.expect("a caught up");
    b.wait_for_position(last, WAIT).await.expect("b caught up");
    let a = a.shutdown().await.expect("a");
    let b = b.shutdown().await.expect("b");
    let expected: Vec<u64> = positions.iter().chain(&more).copied().collect();
    assert_eq!(store.model().await.applied, expected);
    let (seen_a, seen_b) = (a.seen.lock().unwrap().len(), b.seen.lock().unwrap().len());
    assert_eq!(seen_a + seen_b, expected.len(), "no event applied by both");
}

/// Every public async fn of the runner returns a `Send` future, for every store and
/// projection (it only needs to compile).
#[allow(dead_code)]
fn runner_futures_are_send<S, P>(runner: TransactionalRunner<P, S>)
where
    S: TransactionalStore,
    P: TransactionalProjection<S::Connection>,
{
    fn assert_send<T: Send>(_: T) {}
    let mut runner = runner;
    assert_send(async move {
        let _ = runner.run_batch().await;
        let _ = runner.catch_up().await;
        let _ = runner.rebuild().await;
        runner.spawn()
    });
}
