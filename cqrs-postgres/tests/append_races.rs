//! Lost races on the append path: an append whose insert waits for a concurrent writer's
//! uncommitted events, and loses when that writer commits. The direct path and the path
//! inside a transaction apply one race policy (`store/append/resolve.rs`); they differ
//! only where an aborted transaction must.

mod support;

use std::time::{Duration, Instant};

use cqrs_core::{AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, StoreError};
use cqrs_postgres::{CoalescingConfig, PgEventStore, PgEventStoreConfig, PgTransaction};
use serde_json::json;
use support::{event, spawn_append};

/// An open transaction that appended `events` to `stream`, and its backend's pid.
async fn holder(store: &PgEventStore, stream: &str, events: Vec<NewEvent>) -> (PgTransaction, i32) {
    let mut tx = store.begin().await.expect("begin the holder");
    tx.append(stream, ExpectedVersion::Any, events, &Metadata::default())
        .await
        .expect("the holder appends");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(tx.connection())
        .await
        .expect("holder pid");
    (tx, pid)
}

/// Waits until `count` backends wait for the holder `pid`.
async fn until_blocked(store: &PgEventStore, pid: i32, count: i64) {
    let blocked =
        format!("SELECT count(*) FROM pg_stat_activity WHERE {pid} = ANY(pg_blocking_pids(pid))");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(&blocked)
        .fetch_one(store.pool())
        .await
        .expect("blocked backends")
        < count
    {
        assert!(
            Instant::now() < deadline,
            "the racers never waited for the holder"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An append in a new transaction, spawned; returns the transaction with the result.
fn spawn_in_transaction(
    store: &PgEventStore,
    stream: &str,
    events: Vec<NewEvent>,
) -> tokio::task::JoinHandle<(PgTransaction, Result<AppendResult, StoreError>)> {
    let (store, stream) = (store.clone(), stream.to_owned());
    tokio::spawn(async move {
        let mut tx = store.begin().await.expect("begin the racer");
        let result = tx
            .append(
                &stream,
                ExpectedVersion::NoStream,
                events,
                &Metadata::default(),
            )
            .await;
        (tx, result)
    })
}

async fn direct_store(db: &support::TestDb) -> PgEventStore {
    let config =
        PgEventStoreConfig::new(db.fresh_schema()).coalescing(CoalescingConfig::disabled());
    db.store_with(config).await
}

/// A batch retried while its original is still being committed: the direct retry (the
/// store runs without coalescing, so `spawn_append` takes the direct path) gets the
/// original (`deduplicated`); a retry inside a transaction cannot (its transaction was
/// aborted) and gets a transient `Conflict`, and retried again in a new transaction it
/// gets the original too. Nothing is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_racing_its_original_is_the_original_directly_and_a_conflict_in_a_transaction() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = direct_store(&db).await;
    let batch = vec![
        event("Placed", json!({"n": 1})),
        event("Paid", json!({"n": 2})),
    ];
    let (original, pid) = holder(&store, "Order-1", batch.clone()).await;

    let direct = spawn_append(&store, "Order-1", ExpectedVersion::NoStream, batch.clone());
    let in_transaction = spawn_in_transaction(&store, "Order-1", batch.clone());
    until_blocked(&store, pid, 2).await;
    original.commit().await.expect("the original commits");
    let stored = store.read_stream("Order-1", 1).await.expect("read");
    assert_eq!(stored.len(), 2);

    let direct = direct
        .await
        .expect("direct task")
        .expect("the direct retry");
    assert!(direct.deduplicated, "{direct:?}");
    assert_eq!(direct.events, stored);

    let (tx, lost) = in_transaction.await.expect("transaction task");
    let error = lost.expect_err("the transaction lost the race");
    assert!(
        error.as_conflict().is_some_and(|c| c.actual == 2),
        "a transient conflict with the actual version, got {error:?}"
    );
    assert_eq!(error.kind(), cqrs_core::FailureKind::Transient);
    tx.commit()
        .await
        .expect_err("an aborted transaction refuses to commit");

    let mut retry = store.begin().await.expect("begin the retry");
    let retried = retry
        .append(
            "Order-1",
            ExpectedVersion::NoStream,
            batch,
            &Metadata::default(),
        )
        .await
        .expect("the retry in a new transaction");
    assert!(retried.deduplicated);
    assert_eq!(retried.events, stored);
    retry
        .commit()
        .await
        .expect("a retried batch leaves the transaction usable");
    assert_eq!(store.read_stream("Order-1", 1).await.expect("read"), stored);
    db.cleanup().await;
}

/// An id that a concurrent writer stores in another stream while this append waits is a
/// reused id on both paths: `DuplicateEventId` naming where it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_id_stored_concurrently_in_another_stream_is_a_duplicate_on_both_paths() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = direct_store(&db).await;
    let reused = event("Placed", json!({}));
    let (original, pid) = holder(&store, "Order-1", vec![reused.clone()]).await;

    let direct = spawn_append(
        &store,
        "Order-2",
        ExpectedVersion::Any,
        vec![reused.clone()],
    );
    let in_transaction = spawn_in_transaction(&store, "Order-3", vec![reused.clone()]);
    until_blocked(&store, pid, 2).await;
    original.commit().await.expect("the original commits");
    let position = store.read_stream("Order-1", 1).await.expect("read")[0].position;

    let (tx, lost) = in_transaction.await.expect("transaction task");
    for (stream, result) in [
        ("Order-2", direct.await.expect("direct task")),
        ("Order-3", lost),
    ] {
        match result {
            Err(StoreError::DuplicateEventId {
                stream: appended_to,
                event_id,
                detail,
            }) => {
                assert_eq!((appended_to.as_str(), event_id), (stream, reused.event_id));
                assert_eq!(
                    detail,
                    format!(
                        "at position {position} (stream `Order-1` version 1), not as part of this batch"
                    )
                );
            }
            other => panic!("{stream}: expected DuplicateEventId, got {other:?}"),
        }
        assert!(store.read_stream(stream, 1).await.expect("read").is_empty());
    }
    tx.commit()
        .await
        .expect_err("an aborted transaction refuses to commit");
    db.cleanup().await;
}
