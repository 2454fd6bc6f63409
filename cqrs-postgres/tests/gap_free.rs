//! The gap-free global log: a catch-up reader never skips an event whose transaction
//! commits after a later position became visible.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_core::{EventStore, ExpectedVersion, Metadata, RecordedEvent};
use cqrs_postgres::PgEventStore;
use serde_json::json;
use support::{event, Rng};
use uuid::Uuid;

/// Reads until `expected` events are visible (other transactions in the cluster may hold
/// the gap-safe bound for a moment), at most 10 s.
async fn read_until(store: &PgEventStore, expected: usize) -> Vec<RecordedEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = store.read_all(1, 10_000).await.expect("read_all");
        if events.len() >= expected || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catch_up_reader_never_skips_late_commit() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let meta = Metadata::default();

    // Writer A appends first (lower position) and holds its commit.
    let mut a = store.begin().await.expect("begin A");
    let held = a
        .append(
            "A-1",
            ExpectedVersion::NoStream,
            vec![event("Held", json!({"by": "A"}))],
            &meta,
        )
        .await
        .expect("append A");
    let a_position = held.events[0].position;

    // Writer B appends later and commits.
    let committed = store
        .append(
            "B-1",
            ExpectedVersion::NoStream,
            vec![event("Committed", json!({"by": "B"}))],
            &meta,
        )
        .await
        .expect("append B");
    let b_position = committed.events[0].position;
    assert!(
        a_position < b_position,
        "A started first, so its position is lower"
    );

    // B is committed and visible to a plain query, but the reader must not pass A.
    let direct: i64 = sqlx_count(&store).await;
    assert_eq!(direct, 1, "B's row is committed");
    for _ in 0..5 {
        let seen = store.read_all(1, 100).await.expect("read_all");
        assert!(seen.is_empty(), "the reader passed a held commit: {seen:?}");
        assert!(store.head_position().await.expect("head") < a_position);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    a.commit().await.expect("commit A");
    let seen = read_until(&store, 2).await;
    let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        vec![a_position, b_position],
        "after A commits the reader sees both, in order"
    );
    assert_eq!(store.head_position().await.expect("head"), b_position);
    db.cleanup().await;
}

async fn sqlx_count(store: &PgEventStore) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM {}.events",
        store.config().schema.quoted()
    );
    cqrs_postgres::sqlx::query_scalar(&sql)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_writers_and_catch_up_reader_see_exactly_the_committed_log() {
    const WRITERS: u64 = 8;
    const TOTAL: usize = 5_000;
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let seed = Rng::seed_from_clock();
    eprintln!("seed {seed}");

    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));

    // The reader catches up concurrently, resuming after the last position it saw.
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<RecordedEvent> = Vec::new();
            let mut quiet_after_done = 0;
            loop {
                let from = seen.last().map_or(1, |e| e.position + 1);
                let batch = store.read_all(from, 97).await.expect("reader read_all");
                if batch.is_empty() {
                    if done.load(Ordering::Acquire) {
                        quiet_after_done += 1;
                        if quiet_after_done > 200 {
                            return seen;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                } else {
                    quiet_after_done = 0;
                    seen.extend(batch);
                }
            }
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let written = written.clone();
        let mut rng = Rng::new(seed.wrapping_add(w * 7919));
        writers.push(tokio::spawn(async move {
            let mut committed: Vec<Uuid> = Vec::new();
            let meta = Metadata::default().with_header("writer", w.to_string());
            while written.load(Ordering::Relaxed) < TOTAL {
                let stream = format!("Rand-{}", rng.below(24));
                let n = 1 + rng.below(5) as usize;
                let batch: Vec<_> = (0..n)
                    .map(|i| event("Wrote", json!({"writer": w, "i": i})))
                    .collect();
                let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
                match rng.below(4) {
                    // A transaction that commits late, or rolls back.
                    0 => {
                        let mut tx = store.begin().await.expect("begin");
                        match tx.append(&stream, ExpectedVersion::Any, batch, &meta).await {
                            Ok(_) => {}
                            // A concurrent writer took the version: PostgreSQL aborted
                            // this transaction; nothing of it can commit.
                            Err(cqrs_core::StoreError::Conflict(_)) => {
                                tx.rollback().await.expect("rollback after a lost race");
                                continue;
                            }
                            Err(error) => panic!("tx append: {error}"),
                        }
                        tokio::time::sleep(Duration::from_millis(rng.below(4))).await;
                        if rng.below(5) == 0 {
                            tx.rollback().await.expect("rollback");
                            continue;
                        }
                        tx.commit().await.expect("commit");
                    }
                    _ => {
                        store
                            .append(&stream, ExpectedVersion::Any, batch, &meta)
                            .await
                            .expect("append");
                    }
                }
                written.fetch_add(ids.len(), Ordering::Relaxed);
                committed.extend(ids);
            }
            committed
        }));
    }
    let mut committed = HashSet::new();
    for writer in writers {
        committed.extend(writer.await.expect("writer task"));
    }
    done.store(true, Ordering::Release);
    let seen = reader.await.expect("reader task");

    assert!(committed.len() >= TOTAL);
    let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "reader saw positions out of order (seed {seed})"
    );
    let seen_ids: Vec<Uuid> = seen.iter().map(|e| e.event_id).collect();
    let seen_set: HashSet<Uuid> = seen_ids.iter().copied().collect();
    assert_eq!(
        seen_set.len(),
        seen_ids.len(),
        "reader saw an event twice (seed {seed})"
    );
    let missing = committed.difference(&seen_set).count();
    let extra = seen_set.difference(&committed).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "reader missed {missing} and invented {extra} events (seed {seed})"
    );

    // And the reader's sequence is the log itself, in position order.
    let log = read_until(&store, seen.len()).await;
    assert_eq!(log.iter().map(|e| e.event_id).collect::<Vec<_>>(), seen_ids);
    db.cleanup().await;
}
