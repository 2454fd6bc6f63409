//! Transactional projections on PostgreSQL: the read model and the checkpoint commit
//! together, so a failure mid-batch leaves no trace and every event is applied exactly
//! once, by one runner or two; a permanently refused event stops the runner right before it.

mod support;
mod transactional_projection_models;

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::{ShutdownError, WorkerState};
use cqrs_core::{EventStore, ExpectedVersion, Metadata, RunnerConfig, RunnerError};
use cqrs_postgres::sqlx;
use cqrs_postgres::TransactionalRunner;
use serde_json::json;
use support::event;
use transactional_projection_models::{
    create_table, deposit, totals, Labels, Totals, TotalsRows, TOTALS_COLUMNS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactional_projection_applies_each_event_exactly_once_across_a_crash() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;
    let mut expected = TotalsRows::new();
    let positions = deposit(&store, "Acct", 5, 0..50, &mut expected).await;

    let config = RunnerConfig {
        batch_size: 20,
        ..RunnerConfig::default()
    };
    let projection = Totals {
        fail_at: Some(29),
        ..Totals::new(&table)
    };
    let mut runner = TransactionalRunner::new(store.clone(), projection).with_config(config);
    // The second batch (events 20..40) fails at event 29, after writing rows for 20..=29;
    // the failure is transient (not a refusal), so nothing of that batch is committed.
    let error = runner
        .catch_up()
        .await
        .expect_err("the simulated crash stops the catch-up");
    assert!(
        matches!(error, RunnerError::Projection { position, .. } if position == positions[29]),
        "{error}"
    );
    assert_eq!(
        store.load_checkpoint("totals").await.expect("checkpoint"),
        Some(positions[19])
    );
    let after_crash = totals(&store, &table).await;
    let applied: i64 = after_crash.values().map(|(_, a)| a).sum();
    assert_eq!(applied, 20, "only the first, committed batch is visible");

    // Restart: two runners of the same projection race; each event still counts once.
    let second = TransactionalRunner::new(store.clone(), Totals::new(&table)).with_config(config);
    let (a, b) = tokio::join!(
        async move {
            let mut runner = runner;
            runner.catch_up().await
        },
        async move {
            let mut runner = second;
            runner.catch_up().await
        }
    );
    assert_eq!(a.expect("runner a"), positions[49]);
    assert_eq!(b.expect("runner b"), positions[49]);
    assert_eq!(
        totals(&store, &table).await,
        expected,
        "every event applied exactly once"
    );
    assert_eq!(
        store.load_checkpoint("totals").await.expect("checkpoint"),
        Some(positions[49])
    );
    db.cleanup().await;
}

/// A spawned runner is woken by appends made after it started, retries a failing batch
/// from a read model that never saw it (so the retried events count once), and gives the
/// projection back on shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spawned_runner_follows_new_events_and_retries_a_failed_batch() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;
    let config = RunnerConfig {
        // Only wake-ups can bring the runner back in time.
        idle_poll: Duration::from_secs(30),
        ..RunnerConfig::default()
    };
    let projection = Totals {
        fail_at: Some(3),
        ..Totals::new(&table)
    };
    let running = TransactionalRunner::new(store.clone(), projection)
        .with_config(config)
        .spawn();

    let mut expected = TotalsRows::new();
    let positions = deposit(&store, "Live", 2, 0..6, &mut expected).await;
    let last = positions[5];
    running
        .wait_for_position(last, Duration::from_secs(10))
        .await
        .expect("the runner reaches the last event");
    let projection = running.shutdown().await.expect("shutdown");
    assert_eq!(projection.fail_at, None, "the simulated crash happened");
    assert_eq!(
        totals(&store, &table).await,
        expected,
        "every event applied exactly once"
    );
    assert_eq!(
        store.load_checkpoint("totals").await.expect("checkpoint"),
        Some(last)
    );
    db.cleanup().await;
}

/// A label too long for the b-tree index (SQLSTATE 54000) is refused for good: the runner
/// does not retry it, commits the events before it, and stops with an error naming its
/// position, visible through `state()`; the checkpoint stays right before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanently_refused_event_stops_the_runner_at_its_position_without_retrying() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let table = create_table(&store, "labels", "label text PRIMARY KEY").await;
    let mut rng = support::Rng::new(7);
    let too_long: String = (0..20_000)
        .map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap_or('0'))
        .collect();
    let mut positions = Vec::new();
    for label in ["first", too_long.as_str(), "third"] {
        let appended = store
            .append(
                "Labels-1",
                ExpectedVersion::Any,
                vec![event("Labelled", json!({ "label": label }))],
                &Metadata::default(),
            )
            .await
            .expect("append");
        positions.push(appended.events[0].position);
    }
    let config = RunnerConfig {
        retry: cqrs_core::RetryPolicy::attempts(5)
            .with_backoff(Duration::from_millis(50), Duration::from_millis(50)),
        ..RunnerConfig::default()
    };
    let projection = Labels {
        table: table.clone(),
    };
    let running = TransactionalRunner::new(store.clone(), projection)
        .with_config(config)
        .spawn();
    let mut state = running.state();
    let stopped = tokio::time::timeout(Duration::from_secs(5), state.stopped())
        .await
        .expect("the runner stops instead of retrying");
    let WorkerState::Failed(reason) = stopped else {
        panic!("the runner did not fail: {stopped:?}");
    };
    assert!(
        reason.contains(&format!("position {}", positions[1])) && reason.contains("1 attempts"),
        "{reason}"
    );
    assert_eq!(
        running.progress().checkpoint,
        positions[0],
        "checkpoint right before the refused event"
    );
    assert_eq!(
        store.load_checkpoint("labels").await.expect("checkpoint"),
        Some(positions[0])
    );
    let stored: Vec<String> = sqlx::query_scalar(&format!("SELECT label FROM {table}"))
        .fetch_all(store.pool())
        .await
        .expect("labels");
    assert_eq!(stored, vec!["first".to_owned()]);
    match running.shutdown().await {
        Err(ShutdownError::Failed(RunnerError::Projection {
            position, attempts, ..
        })) => {
            assert_eq!(position, positions[1]);
            assert_eq!(attempts, 1, "a permanent failure is not retried");
        }
        Err(other) => panic!("unexpected error: {other:?}"),
        Ok(_) => panic!("the runner should have failed"),
    }
    db.cleanup().await;
}
