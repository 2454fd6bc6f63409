//! Rebuilding a transactional projection on PostgreSQL: the read model and the checkpoint
//! are reset in one transaction, then the log is replayed; a failed or crashed reset leaves
//! both as they were; a runner following the log meanwhile never applies an event twice.

mod support;
mod transactional_projection_models;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_core::{EventStore, RunnerConfig, RunnerError};
use cqrs_postgres::{PgEventStore, TransactionalRunner};
use transactional_projection_models::{
    catch_up_to, create_table, deposit, totals, ResetFault, Totals, TotalsRows, TOTALS_COLUMNS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuild_resets_the_read_model_and_the_checkpoint_together_then_replays() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;
    let mut expected = TotalsRows::new();
    let positions = deposit(&store, "Acct", 3, 0..12, &mut expected).await;
    let config = RunnerConfig {
        batch_size: 5,
        ..RunnerConfig::default()
    };
    let mut runner =
        TransactionalRunner::new(store.clone(), Totals::new(&table)).with_config(config);
    let caught_up = catch_up_to(&mut runner, positions[11]).await;
    assert_eq!(caught_up.expect("catch up"), positions[11]);
    assert_eq!(totals(&store, &table).await, expected);

    runner.rebuild().await.expect("rebuild");
    assert!(
        totals(&store, &table).await.is_empty(),
        "read model cleared"
    );
    assert_eq!(
        store.load_checkpoint("totals").await.expect("checkpoint"),
        Some(0)
    );

    let replayed = catch_up_to(&mut runner, positions[11]).await;
    assert_eq!(replayed.expect("replay"), positions[11]);
    assert_eq!(
        totals(&store, &table).await,
        expected,
        "replayed from the start, each event once"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_or_crashed_reset_leaves_the_read_model_and_the_checkpoint_as_they_were() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;
    let mut expected = TotalsRows::new();
    let positions = deposit(&store, "Acct", 3, 0..6, &mut expected).await;
    let mut runner = TransactionalRunner::new(store.clone(), Totals::new(&table));
    let caught_up = catch_up_to(&mut runner, positions[5]).await;
    assert_eq!(caught_up.expect("catch up"), positions[5]);

    for fault in [ResetFault::Fails, ResetFault::Crashes] {
        // The reset deletes every row, then fails or loses its connection.
        let projection = Totals {
            reset_fault: Some(fault),
            ..Totals::new(&table)
        };
        let error = TransactionalRunner::new(store.clone(), projection)
            .rebuild()
            .await
            .expect_err("the reset does not complete");
        // A crash shows where the lost connection is noticed: in the reset or right after.
        let as_expected = match (fault, &error) {
            (_, RunnerError::Reset { projection, .. }) => projection == "totals",
            (ResetFault::Crashes, RunnerError::Store { .. }) => true,
            _ => false,
        };
        assert!(as_expected, "{fault:?}: {error}");
        assert_eq!(
            totals(&store, &table).await,
            expected,
            "{fault:?}: rows kept"
        );
        assert_eq!(
            store.load_checkpoint("totals").await.expect("checkpoint"),
            Some(positions[5]),
            "{fault:?}: checkpoint kept"
        );
    }
    // The runner carries on where it was: nothing is applied twice.
    assert_eq!(runner.catch_up().await.expect("catch up"), positions[5]);
    assert_eq!(
        totals(&store, &table).await,
        expected,
        "nothing applied twice"
    );
    db.cleanup().await;
}

/// A runner follows the log while another process rebuilds the projection (five times) and
/// events keep coming: each rebuild waits for the follower's batch (the checkpoint row
/// lock), the follower's next batch replays from the reset checkpoint, and each event
/// counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_while_another_runner_follows_never_applies_an_event_twice() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = Arc::new(db.store().await);
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;
    let config = RunnerConfig {
        batch_size: 2,
        idle_poll: Duration::from_millis(5),
        ..RunnerConfig::default()
    };
    let mut expected = TotalsRows::new();
    let positions = deposit(&store, "Acct", 4, 0..20, &mut expected).await;
    let running = TransactionalRunner::new(store.clone(), Totals::new(&table))
        .with_config(config)
        .spawn();
    running
        .wait_for_position(positions[19], Duration::from_secs(10))
        .await
        .expect("caught up");

    let appending = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut more = TotalsRows::new();
            let positions = deposit(&store, "Acct", 4, 20..40, &mut more).await;
            (more, positions)
        })
    };
    // Rebuilds land while the follower replays, applies new events, or idles.
    let mut rebuilder = TransactionalRunner::new(store.clone(), Totals::new(&table));
    for _ in 0..5 {
        rebuilder.rebuild().await.expect("rebuild");
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    let (more, more_positions) = appending.await.expect("appends");
    for (stream, (total, applied)) in more {
        let entry = expected.entry(stream).or_default();
        entry.0 += total;
        entry.1 += applied;
    }
    let last = more_positions[19];
    assert!(
        replayed(&store, &table, &expected, last).await,
        "the follower replays to the head: {:?}",
        totals(&store, &table).await
    );
    running.shutdown().await.expect("shutdown");
    assert_eq!(totals(&store, &table).await, expected, "each event once");
    db.cleanup().await;
}

/// Waits until the read model holds `expected` and the checkpoint reached `last`.
async fn replayed(store: &PgEventStore, table: &str, expected: &TotalsRows, last: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let checkpoint = store.load_checkpoint("totals").await.expect("checkpoint");
        if checkpoint == Some(last) && totals(store, table).await == *expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
