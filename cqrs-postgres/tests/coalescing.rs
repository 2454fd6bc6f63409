//! Append coalescing: concurrent appends share statements, yet every caller gets exactly
//! its own result, versions stay dense, and one request's failure is its own.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cqrs_core::{AppendResult, Conflict, EventStore, ExpectedVersion, Metadata, StoreError};
use cqrs_postgres::{CoalescingConfig, PgEventStore, PgEventStoreConfig, PgTransaction};
use serde_json::json;
use support::{event, spawn_append, TestDb};

const POSITION_INDEX_BITS: u32 = 20;

/// A store with one writer task, so requests queued behind a blocked batch form the next
/// batch together.
async fn one_writer_store(db: &TestDb) -> PgEventStore {
    let coalescing = CoalescingConfig {
        writers: 1,
        ..CoalescingConfig::default()
    };
    db.store_with(PgEventStoreConfig::new(db.fresh_schema()).coalescing(coalescing))
        .await
}

/// Blocks the store's writer: an open transaction holds version 1 of `Blocker`, and a
/// coalesced append of that version waits for it. Returns the transaction (roll it back to
/// let the writer go) and the blocked append.
async fn block_the_writer(
    store: &PgEventStore,
) -> (
    PgTransaction,
    tokio::task::JoinHandle<Result<AppendResult, StoreError>>,
) {
    let meta = Metadata::default();
    let mut tx = store.begin().await.expect("begin");
    tx.append(
        "Blocker",
        ExpectedVersion::NoStream,
        vec![event("Held", json!({}))],
        &meta,
    )
    .await
    .expect("append in the open transaction");
    let blocked = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append(
                    "Blocker",
                    ExpectedVersion::NoStream,
                    vec![event("Blocked", json!({}))],
                    &Metadata::default(),
                )
                .await
        })
    };
    // Until the writer has taken it and waits on the row lock.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (tx, blocked)
}

fn transaction_of(position: u64) -> u64 {
    position >> POSITION_INDEX_BITS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_distinct_streams_get_their_own_results() {
    const TASKS: usize = 16;
    const APPENDS: u64 = 25;
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let writers: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("Distinct-{task}");
                let mut results = Vec::new();
                for version in 0..APPENDS {
                    let events = vec![
                        event("A", json!({"task": task, "version": version})),
                        event("B", json!({"task": task, "second": true})),
                    ];
                    let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
                    let result = store
                        .append(
                            &stream,
                            ExpectedVersion::Exact(version * 2),
                            events,
                            &Metadata::default(),
                        )
                        .await
                        .expect("append");
                    assert_eq!(result.current_version, version * 2 + 2);
                    assert!(!result.deduplicated);
                    let got: Vec<_> = result.events.iter().map(|e| e.event_id).collect();
                    assert_eq!(got, ids, "a caller got someone else's events");
                    results.push(result);
                }
                (stream, results)
            })
        })
        .collect();
    for writer in writers {
        let (stream, results) = writer.await.expect("writer task");
        let stored = store.read_stream(&stream, 1).await.expect("read");
        let returned: Vec<_> = results.into_iter().flat_map(|r| r.events).collect();
        assert_eq!(returned, stored, "results differ from what {stream} stores");
        let versions: Vec<u64> = stored.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=APPENDS * 2).collect::<Vec<_>>());
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_shared_streams_stay_dense() {
    const TASKS: usize = 16;
    const APPENDS: usize = 20;
    const STREAMS: usize = 3;
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let writers: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..APPENDS {
                    let stream = format!("Shared-{}", (task + i) % STREAMS);
                    let event = event("Shared", json!({"task": task, "i": i}));
                    let id = event.event_id;
                    // Half the writers check versions (and retry conflicts), half do not.
                    let result = if task % 2 == 0 {
                        store
                            .append(
                                &stream,
                                ExpectedVersion::Any,
                                vec![event],
                                &Metadata::default(),
                            )
                            .await
                            .expect("append any")
                    } else {
                        let mut expected =
                            store.read_stream(&stream, 1).await.expect("read").len() as u64;
                        loop {
                            match store
                                .append(
                                    &stream,
                                    ExpectedVersion::Exact(expected),
                                    vec![event.clone()],
                                    &Metadata::default(),
                                )
                                .await
                            {
                                Ok(result) => break result,
                                Err(StoreError::Conflict(Conflict { actual, .. })) => {
                                    expected = actual
                                }
                                Err(other) => panic!("append exact: {other}"),
                            }
                        }
                    };
                    assert_eq!(result.events.len(), 1);
                    assert_eq!(result.events[0].event_id, id);
                    assert_eq!(result.current_version, result.events[0].stream_version);
                    mine.push((stream, result.events[0].stream_version, id));
                }
                mine
            })
        })
        .collect();
    let mut returned: BTreeMap<(String, u64), uuid::Uuid> = BTreeMap::new();
    for writer in writers {
        for (stream, version, id) in writer.await.expect("writer task") {
            assert!(
                returned.insert((stream.clone(), version), id).is_none(),
                "two callers were given version {version} of {stream}"
            );
        }
    }
    for s in 0..STREAMS {
        let stream = format!("Shared-{s}");
        let stored = store.read_stream(&stream, 1).await.expect("read");
        let versions: Vec<u64> = stored.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=stored.len() as u64).collect::<Vec<_>>());
        for e in &stored {
            assert_eq!(
                returned.get(&(stream.clone(), e.stream_version)),
                Some(&e.event_id)
            );
        }
    }
    assert_eq!(returned.len(), TASKS * APPENDS);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflicting_request_does_not_affect_its_batch() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = one_writer_store(&db).await;
    store
        .append(
            "Existing",
            ExpectedVersion::NoStream,
            vec![event("Created", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect("create");

    let (tx, blocked) = block_the_writer(&store).await;
    let fresh: Vec<_> = (0..5)
        .map(|i| {
            spawn_append(
                &store,
                &format!("Fresh-{i}"),
                ExpectedVersion::NoStream,
                vec![
                    event("Created", json!({"i": i})),
                    event("Named", json!({"i": i})),
                ],
            )
        })
        .collect();
    let stale = spawn_append(
        &store,
        "Existing",
        ExpectedVersion::Exact(0),
        vec![event("Stale", json!({}))],
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.rollback().await.expect("rollback");
    blocked
        .await
        .expect("task")
        .expect("the blocked append goes through after the rollback");

    let mut transactions = Vec::new();
    for (i, task) in fresh.into_iter().enumerate() {
        let result = task.await.expect("task").expect("fresh append");
        assert_eq!(result.current_version, 2);
        let stored = store
            .read_stream(&format!("Fresh-{i}"), 1)
            .await
            .expect("read");
        assert_eq!(result.events, stored);
        transactions.extend(result.events.iter().map(|e| transaction_of(e.position)));
    }
    transactions.dedup();
    assert_eq!(
        transactions.len(),
        1,
        "the queued appends were written as one batch"
    );
    match stale.await.expect("task") {
        Err(StoreError::Conflict(Conflict {
            stream,
            expected,
            actual,
        })) => {
            assert_eq!(stream, "Existing");
            assert_eq!(expected, ExpectedVersion::Exact(0));
            assert_eq!(actual, 1);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.read_stream("Existing", 1).await.expect("read").len(),
        1
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_and_reused_ids_in_a_batch_are_resolved_alone() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = one_writer_store(&db).await;
    let original_events = vec![event("First", json!({})), event("Second", json!({}))];
    let original = store
        .append(
            "Retried",
            ExpectedVersion::NoStream,
            original_events.clone(),
            &Metadata::default(),
        )
        .await
        .expect("original append");

    let (tx, blocked) = block_the_writer(&store).await;
    // A retry that fails its version check inside the batch, and one that passes it and
    // makes the whole statement fail on the event id (the batch falls back).
    let retry_checked = spawn_append(
        &store,
        "Retried",
        ExpectedVersion::NoStream,
        original_events.clone(),
    );
    let retry_unchecked = spawn_append(
        &store,
        "Retried",
        ExpectedVersion::Any,
        original_events.clone(),
    );
    let mut reused = event("Reused", json!({}));
    reused.event_id = original_events[0].event_id;
    let reuse = spawn_append(&store, "Other", ExpectedVersion::NoStream, vec![reused]);
    let fresh: Vec<_> = (0..3)
        .map(|i| {
            spawn_append(
                &store,
                &format!("Fine-{i}"),
                ExpectedVersion::NoStream,
                vec![event("Created", json!({"i": i}))],
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.rollback().await.expect("rollback");
    blocked.await.expect("task").expect("blocked append");

    for retry in [retry_checked, retry_unchecked] {
        let result = retry
            .await
            .expect("task")
            .expect("a retry returns the original");
        assert!(result.deduplicated);
        assert_eq!(result.events, original.events);
    }
    match reuse.await.expect("task") {
        Err(StoreError::DuplicateEventId { event_id, .. }) => {
            assert_eq!(event_id, original_events[0].event_id)
        }
        other => panic!("expected DuplicateEventId, got {other:?}"),
    }
    for (i, task) in fresh.into_iter().enumerate() {
        let result = task.await.expect("task").expect("fresh append");
        assert_eq!(result.current_version, 1);
        let stored = store
            .read_stream(&format!("Fine-{i}"), 1)
            .await
            .expect("read");
        assert_eq!(result.events, stored);
    }
    assert_eq!(
        store.read_stream("Retried", 1).await.expect("read").len(),
        2
    );
    assert!(store
        .read_stream("Other", 1)
        .await
        .expect("read")
        .is_empty());
    db.cleanup().await;
}
