//! Inline projections: rows written in the user's own transaction (`PgEventStore::begin`)
//! commit or roll back with the events appended in it.

mod support;
mod transactional_projection_models;

use cqrs_core::{EventStore, ExpectedVersion, Metadata};
use cqrs_postgres::sqlx;
use serde_json::json;
use support::event;
use transactional_projection_models::create_table;

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
