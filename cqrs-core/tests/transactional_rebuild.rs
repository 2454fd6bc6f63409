//! `TransactionalRunner::rebuild`: the read model and the checkpoint reset in one
//! transaction, then the whole log replayed; a failed reset changes nothing.

mod transactional;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{RunnerConfig, RunnerError, TransactionalRunner};
use transactional::{eventually, Ledger, TestStore};

const WAIT: Duration = Duration::from_secs(10);

fn config() -> RunnerConfig {
    RunnerConfig {
        batch_size: 4,
        idle_poll: Duration::from_millis(10),
        ..RunnerConfig::default()
    }
}

#[tokio::test]
async fn rebuild_resets_the_model_and_the_checkpoint_in_one_transaction_then_replays() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(10).await;
    let mut runner =
        TransactionalRunner::new(store.clone(), Ledger::default()).with_config(config());
    assert_eq!(runner.catch_up().await.expect("catch up"), positions[9]);

    let commits = store.calls.commits.load(Ordering::SeqCst);
    runner.rebuild().await.expect("rebuild");
    assert_eq!(
        store.calls.commits.load(Ordering::SeqCst),
        commits + 1,
        "one transaction"
    );
    let reset = store.committed().await;
    assert_eq!(reset.checkpoints["ledger"], 0);
    assert!(reset.model.applied.is_empty());

    assert_eq!(runner.catch_up().await.expect("replay"), positions[9]);
    assert_eq!(
        store.model().await.applied,
        positions,
        "replayed once, from the start"
    );
}

#[tokio::test]
async fn a_failed_reset_leaves_the_model_and_the_checkpoint_as_they_were() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(5).await;
    let ledger = Ledger {
        reset_fails: true,
        ..Ledger::default()
    };
    let mut runner = TransactionalRunner::new(store.clone(), ledger).with_config(config());
    runner.catch_up().await.expect("catch up");

    // The projection clears its rows, then fails: rolled back.
    let error = runner.rebuild().await.expect_err("the reset fails");
    assert!(
        matches!(&error, RunnerError::Reset { projection, .. } if projection == "ledger"),
        "{error}"
    );
    let kept = store.committed().await;
    assert_eq!(kept.checkpoints["ledger"], positions[4]);
    assert_eq!(kept.model.applied, positions);

    // The store loses the commit: rolled back as well.
    let mut runner =
        TransactionalRunner::new(store.clone(), Ledger::default()).with_config(config());
    store.faults.commit.store(1, Ordering::SeqCst);
    let error = runner.rebuild().await.expect_err("the commit fails");
    assert!(matches!(error, RunnerError::Store { .. }), "{error}");
    let kept = store.committed().await;
    assert_eq!(kept.checkpoints["ledger"], positions[4]);
    assert_eq!(kept.model.applied, positions);
}

/// A rebuild while another runner of the projection follows the log: the follower's next
/// batch reads the reset checkpoint and replays, and no event counts twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_under_a_running_runner_replays_without_applying_an_event_twice() {
    let store = Arc::new(TestStore::default());
    let positions = store.append_events(12).await;
    let running = TransactionalRunner::new(store.clone(), Ledger::default())
        .with_config(config())
        .spawn();
    running
        .wait_for_position(positions[11], WAIT)
        .await
        .expect("caught up");

    let mut rebuilder = TransactionalRunner::new(store.clone(), Ledger::default());
    rebuilder.rebuild().await.expect("rebuild");
    let more = store.append_events(4).await;
    let expected: Vec<u64> = positions.iter().chain(&more).copied().collect();
    let replayed = eventually(WAIT, || {
        let store = store.clone();
        let expected = expected.clone();
        async move { store.model().await.applied == expected }
    })
    .await;
    assert!(replayed, "replayed: {:?}", store.model().await.applied);
    running.shutdown().await.expect("shutdown");
    assert_eq!(store.committed().await.checkpoints["ledger"], more[3]);
}
