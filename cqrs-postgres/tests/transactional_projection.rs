//! Transactional projections: the read model and the checkpoint commit together, so a
//! failure mid-batch leaves no trace and every event is applied exactly once.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::worker::ShutdownError;
use cqrs_core::worker::WorkerState;
use cqrs_core::{EventStore, ExpectedVersion, Metadata, RecordedEvent, RunnerConfig, RunnerError};
use cqrs_postgres::sqlx::{self, PgConnection};
use cqrs_postgres::{PgEventStore, TransactionalProjection, TransactionalRunner};
use serde_json::json;
use support::event;

/// Adds each event's amount to its stream's total: not idempotent, so a replayed event
/// would show.
struct Totals {
    table: String,
    /// Fail (once) when this event number is applied: a crash mid-batch.
    fail_at: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
enum TotalsError {
    #[error("simulated crash at event {0}")]
    Crash(u64),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

#[async_trait]
impl TransactionalProjection for Totals {
    type Error = TotalsError;
    fn name(&self) -> &str {
        "totals"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), TotalsError> {
        let payload = event
            .payload
            .to_value()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let n = payload["n"].as_u64().unwrap_or_default();
        sqlx::query(&format!(
            "INSERT INTO {} (stream_id, total, applied) VALUES ($1, $2, 1)
             ON CONFLICT (stream_id) DO UPDATE SET total = {0}.total + $2, applied = {0}.applied + 1",
            self.table
        ))
        .bind(&*event.stream_id)
        .bind(payload["amount"].as_i64().unwrap_or_default())
        .execute(&mut *connection)
        .await?;
        if self.fail_at == Some(n) {
            self.fail_at = None;
            return Err(TotalsError::Crash(n));
        }
        Ok(())
    }
}

/// The columns of the [`Totals`] read model.
const TOTALS_COLUMNS: &str =
    "stream_id text PRIMARY KEY, total bigint NOT NULL, applied bigint NOT NULL";

/// Creates table `name` with `columns` in the store's schema; returns its qualified name.
async fn create_table(store: &PgEventStore, name: &str, columns: &str) -> String {
    let table = format!("{}.{name}", store.config().schema.quoted());
    sqlx::query(&format!("CREATE TABLE {table} ({columns})"))
        .execute(store.pool())
        .await
        .expect("create the read model table");
    table
}

async fn totals(store: &PgEventStore, table: &str) -> HashMap<String, (i64, i64)> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as(&format!("SELECT stream_id, total, applied FROM {table}"))
            .fetch_all(store.pool())
            .await
            .expect("read totals");
    rows.into_iter().map(|(s, t, a)| (s, (t, a))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactional_projection_applies_each_event_exactly_once_across_a_crash() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;

    let mut expected: HashMap<String, (i64, i64)> = HashMap::new();
    let mut positions = Vec::new();
    for n in 0..50u64 {
        let stream = format!("Acct-{}", n % 5);
        let amount = (n * 3 + 1) as i64;
        let appended = store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![event("Deposited", json!({"n": n, "amount": amount}))],
                &Metadata::default(),
            )
            .await
            .expect("append");
        positions.push(appended.events[0].position);
        let entry = expected.entry(stream).or_default();
        entry.0 += amount;
        entry.1 += 1;
    }

    let config = RunnerConfig {
        batch_size: 20,
        ..RunnerConfig::default()
    };
    let projection = Totals {
        table: table.clone(),
        fail_at: Some(29),
    };
    let mut runner = TransactionalRunner::new(store.clone(), projection).with_config(config);
    // The second batch (events 20..40) fails at event 29, after writing rows for 20..=29.
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
    let second = TransactionalRunner::new(
        store.clone(),
        Totals {
            table: table.clone(),
            fail_at: None,
        },
    )
    .with_config(config);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inline_projection_commits_or_rolls_back_with_the_events() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let table = create_table(
        &store,
        "orders_view",
        "stream_id text PRIMARY KEY, version bigint NOT NULL",
    )
    .await;
    let upsert = format!(
        "INSERT INTO {table} VALUES ($1, $2) ON CONFLICT (stream_id) DO UPDATE SET version = $2"
    );

    // Rolled back: neither the event nor the row exists.
    let mut tx = store.begin().await.expect("begin");
    let appended = tx
        .append(
            "Order-9",
            ExpectedVersion::NoStream,
            vec![event("Placed", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect("append in tx");
    sqlx::query(&upsert)
        .bind("Order-9")
        .bind(appended.current_version as i64)
        .execute(tx.connection())
        .await
        .expect("view row");
    tx.rollback().await.expect("rollback");
    assert!(store
        .read_stream("Order-9", 1)
        .await
        .expect("read")
        .is_empty());
    let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(rows, 0);

    // Committed: both, with two appends in one transaction.
    let mut tx = store.begin().await.expect("begin");
    tx.append(
        "Order-9",
        ExpectedVersion::NoStream,
        vec![event("Placed", json!({}))],
        &Metadata::default(),
    )
    .await
    .expect("append 1");
    let second = tx
        .append(
            "Order-9",
            ExpectedVersion::Exact(1),
            vec![event("Paid", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect("append 2 sees append 1");
    assert!(second.events[0].position > 0);
    sqlx::query(&upsert)
        .bind("Order-9")
        .bind(second.current_version as i64)
        .execute(tx.connection())
        .await
        .expect("view row");
    // A version conflict inside the transaction leaves it usable.
    let conflict = tx
        .append(
            "Order-9",
            ExpectedVersion::Exact(1),
            vec![event("Paid", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect_err("stale version");
    assert!(
        conflict.as_conflict().is_some_and(|c| c.actual == 2),
        "{conflict:?}"
    );
    tx.commit().await.expect("commit");
    let stream = store.read_stream("Order-9", 1).await.expect("read");
    assert_eq!(
        stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(stream[0].position < stream[1].position);
    let version: i64 = sqlx::query_scalar(&format!(
        "SELECT version FROM {table} WHERE stream_id = 'Order-9'"
    ))
    .fetch_one(store.pool())
    .await
    .expect("view");
    assert_eq!(version, 2);
    db.cleanup().await;
}

/// Losing a race for a stream version makes PostgreSQL abort the transaction: the append
/// is a typed conflict, and the transaction refuses further appends and its commit
/// (PostgreSQL would answer COMMIT with a silent rollback), so its earlier writes are
/// never believed stored. A retried batch in a transaction is returned, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_that_loses_a_race_refuses_to_commit() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let meta = Metadata::default();
    let winner_event = event("Won", json!({}));

    let mut winner = store.begin().await.expect("begin winner");
    winner
        .append(
            "Race-1",
            ExpectedVersion::NoStream,
            vec![winner_event.clone()],
            &meta,
        )
        .await
        .expect("winner appends");
    let winner_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(winner.connection())
        .await
        .expect("winner pid");

    let loser = {
        let store = store.clone();
        tokio::spawn(async move {
            let meta = Metadata::default();
            let mut tx = store.begin().await.expect("begin loser");
            tx.append(
                "Race-2",
                ExpectedVersion::NoStream,
                vec![event("Before", json!({}))],
                &meta,
            )
            .await
            .expect("an append before the race");
            // Waits on the winner's uncommitted version 1, then fails.
            let lost = tx
                .append(
                    "Race-1",
                    ExpectedVersion::NoStream,
                    vec![event("Lost", json!({}))],
                    &meta,
                )
                .await;
            (tx, lost)
        })
    };
    // Until the loser's insert waits for the winner.
    let blocked = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE {winner_pid} = ANY(pg_blocking_pids(pid))"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(&blocked)
        .fetch_one(store.pool())
        .await
        .expect("blocked backends")
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the loser never waited for the winner"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    winner.commit().await.expect("commit winner");

    let (mut tx, lost) = loser.await.expect("loser task");
    let conflict = lost.expect_err("the race is lost");
    assert!(
        conflict.as_conflict().is_some_and(|c| c.actual == 1),
        "{conflict:?}"
    );
    tx.append(
        "Race-3",
        ExpectedVersion::NoStream,
        vec![event("After", json!({}))],
        &meta,
    )
    .await
    .expect_err("an aborted transaction refuses appends");
    tx.commit()
        .await
        .expect_err("an aborted transaction refuses to commit");
    for stream in ["Race-2", "Race-3"] {
        assert!(
            store.read_stream(stream, 1).await.expect("read").is_empty(),
            "{stream} was written by the aborted transaction"
        );
    }

    // Re-appending the winner's batch in a new transaction returns it and keeps the
    // transaction usable.
    let mut tx = store.begin().await.expect("begin retry");
    let retried = tx
        .append(
            "Race-1",
            ExpectedVersion::NoStream,
            vec![winner_event],
            &meta,
        )
        .await
        .expect("a retried batch is returned");
    assert!(retried.deduplicated);
    assert_eq!(
        retried.events,
        store.read_stream("Race-1", 1).await.expect("read")
    );
    tx.commit().await.expect("commit after a retried batch");
    assert_eq!(store.read_stream("Race-1", 1).await.expect("read").len(), 1);
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
    let store = db.store().await;
    let table = create_table(&store, "totals", TOTALS_COLUMNS).await;
    let config = RunnerConfig {
        // Only wake-ups can bring the runner back in time.
        idle_poll: std::time::Duration::from_secs(30),
        ..RunnerConfig::default()
    };
    let projection = Totals {
        table: table.clone(),
        fail_at: Some(3),
    };
    let running = TransactionalRunner::new(store.clone(), projection)
        .with_config(config)
        .spawn();

    let mut expected: HashMap<String, (i64, i64)> = HashMap::new();
    let mut last = 0;
    for n in 0..6u64 {
        let stream = format!("Live-{}", n % 2);
        let amount = (n + 1) as i64;
        let appended = store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![event("Deposited", json!({"n": n, "amount": amount}))],
                &Metadata::default(),
            )
            .await
            .expect("append");
        last = appended.events[0].position;
        let entry = expected.entry(stream).or_default();
        entry.0 += amount;
        entry.1 += 1;
    }
    running
        .wait_for_position(last, std::time::Duration::from_secs(10))
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

/// Writes each event's `label` into a table whose primary key indexes it.
struct Labels {
    table: String,
}

#[async_trait]
impl TransactionalProjection for Labels {
    type Error = sqlx::Error;
    fn name(&self) -> &str {
        "labels"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        let payload = event
            .payload
            .to_value()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        sqlx::query(&format!("INSERT INTO {} (label) VALUES ($1)", self.table))
            .bind(payload["label"].as_str().unwrap_or_default())
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

/// A label too long for the b-tree index (SQLSTATE 54000) is refused for good: the runner
/// does not retry it, commits the events before it, and stops with an error naming its
/// position, visible through `state()`; the checkpoint stays right before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanently_refused_event_stops_the_runner_at_its_position_without_retrying() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
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
