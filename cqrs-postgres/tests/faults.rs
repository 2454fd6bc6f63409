//! Faults: backends terminated while commands run.

mod support;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{EventStore, ExpectedVersion, Metadata, StoreError};
use cqrs_postgres::sqlx::postgres::PgConnectOptions;
use cqrs_postgres::{PgEventStore, PgEventStoreConfig};
use serde_json::json;
use support::event;

/// Terminates every backend of the store's pool (found by application name).
async fn terminate_backends(admin: &cqrs_postgres::sqlx::PgPool, application: &str) -> i64 {
    cqrs_postgres::sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind(application)
    .fetch_one(admin)
    .await
    .expect("terminate backends")
}

/// A migrated store in a fresh schema with its own pool of `connections`, whose sessions
/// carry a unique application name (returned) so a test can find and kill its backends.
async fn own_store(db: &support::TestDb, prefix: &str, connections: u32) -> (PgEventStore, String) {
    let application = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    let options: PgConnectOptions = db
        .url
        .parse::<PgConnectOptions>()
        .expect("url")
        .application_name(&application);
    let config = PgEventStoreConfig::new(db.fresh_schema()).max_connections(connections);
    let store = PgEventStore::connect_with(options, config)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    (store, application)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_connections_fail_typed_write_nothing_partial_and_recover() {
    const WRITERS: usize = 6;
    const BATCH: usize = 3;
    let Some(db) = support::database().await else {
        return;
    };
    let (store, application) = own_store(&db, "cqrs-fault", 6).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            let mut batch_no = 0u64;
            while !stop.load(Ordering::Relaxed) {
                batch_no += 1;
                let events = (0..BATCH)
                    .map(|i| event("Faulted", json!({"batch": batch_no, "i": i})))
                    .collect();
                match store
                    .append(
                        &format!("Fault-{w}"),
                        ExpectedVersion::Any,
                        events,
                        &Metadata::default(),
                    )
                    .await
                {
                    Ok(result) => ok.push((batch_no, result.events.len())),
                    Err(error) => failed.push((batch_no, error)),
                }
            }
            (ok, failed)
        }));
    }

    let mut terminated = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        terminated += terminate_backends(&db.pool, &application).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(terminated > 0, "the test terminated no backend");

    let mut committed_batches = 0;
    for (w, writer) in writers.into_iter().enumerate() {
        let (ok, failed) = writer.await.expect("writer task");
        committed_batches += ok.len();
        for (batch, error) in &failed {
            assert!(
                matches!(
                    error,
                    StoreError::Unavailable { .. } | StoreError::Timeout { .. }
                ),
                "writer {w} batch {batch}: untyped failure {error:?}"
            );
        }
        // Nothing half-written: every stored batch is complete, versions are contiguous,
        // and every acknowledged batch is stored.
        let stream = store
            .read_stream(&format!("Fault-{w}"), 1)
            .await
            .expect("read stream after faults");
        let versions: Vec<u64> = stream.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=stream.len() as u64).collect::<Vec<_>>());
        let mut per_batch: BTreeMap<u64, usize> = BTreeMap::new();
        for e in &stream {
            let payload: serde_json::Value = e.payload.to_value().expect("payload");
            *per_batch
                .entry(payload["batch"].as_u64().expect("batch"))
                .or_default() += 1;
        }
        assert!(
            per_batch.values().all(|&n| n == BATCH),
            "writer {w}: a partial batch is visible: {per_batch:?}"
        );
        for (batch, _) in &ok {
            assert_eq!(
                per_batch.get(batch),
                Some(&BATCH),
                "writer {w}: acknowledged batch {batch} is missing"
            );
        }
    }
    assert!(committed_batches > 0);

    // Terminate once more while idle, then every new command must succeed without a restart.
    terminate_backends(&db.pool, &application).await;
    for w in 0..WRITERS {
        store
            .append(
                &format!("Fault-{w}"),
                ExpectedVersion::Any,
                vec![event("After", json!({}))],
                &Metadata::default(),
            )
            .await
            .expect("append after the faults");
    }
    let head = store.head_position().await.expect("head after the faults");
    assert!(head > 0);
    drop(store);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_load_whose_backend_dies_resumes_without_visiting_an_event_twice() {
    // Large payloads, so the server is still sending (blocked on a full socket) when its
    // backend is terminated.
    const EVENTS: u64 = 4_000;
    let Some(db) = support::database().await else {
        return;
    };
    let (store, application) = own_store(&db, "cqrs-load-fault", 2).await;
    let padding = "x".repeat(2_000);
    for chunk in 0..EVENTS / 500 {
        let events = (0..500)
            .map(|i| event("Loaded", json!({"n": chunk * 500 + i, "padding": padding})))
            .collect();
        store
            .append("Big-1", ExpectedVersion::Any, events, &Metadata::default())
            .await
            .expect("fill");
    }

    // The visitor holds the first event until the killer has terminated the backend
    // that is streaming the rows (its worker thread blocks; the killer runs on another).
    let killed = Arc::new(AtomicBool::new(false));
    let killer = {
        let (admin, application, killed) = (db.pool.clone(), application.clone(), killed.clone());
        tokio::spawn(async move {
            for _ in 0..500 {
                let terminated: i64 = cqrs_postgres::sqlx::query_scalar(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE application_name = $1 AND state = 'active'
                       AND query LIKE '%One stream''s events from a version on%'",
                )
                .bind(&application)
                .fetch_one(&admin)
                .await
                .expect("terminate");
                if terminated > 0 {
                    killed.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let mut visited = Vec::new();
    store
        .load_stream("Big-1", 1, &mut |e| {
            if visited.is_empty() {
                let waited = std::time::Instant::now();
                while !killed.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            let payload: serde_json::Value = serde_json::from_str(e.payload).expect("payload");
            visited.push((e.stream_version, payload["n"].as_u64().expect("n")));
            ControlFlow::Continue(())
        })
        .await
        .expect("the load resumes on a fresh connection");
    killer.await.expect("killer task");
    assert!(
        killed.load(Ordering::SeqCst),
        "the load's backend was never terminated"
    );
    let expected: Vec<(u64, u64)> = (1..=EVENTS).map(|v| (v, v - 1)).collect();
    assert!(
        visited == expected,
        "every event visited exactly once, in order, each with its own version: got {} visits, first mismatch {:?}",
        visited.len(),
        visited.iter().zip(&expected).find(|(a, b)| a != b)
    );
    drop(store);
    db.cleanup().await;
}
