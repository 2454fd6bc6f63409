//! Concurrent writers and a concurrent catch-up reader, as parallel tasks.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{append_ok, event, last_position, settled_log, try_append, unique_stream};
use crate::{EventStore, ExpectedVersion, RecordedEvent, StoreError};

const WRITERS: u64 = 8;
const APPENDS_PER_WRITER: u64 = 60;

/// Writers race with `Exact` expectations on one stream: every success gets its own
/// version, losers get a `Conflict` reporting a newer version.
pub(crate) async fn concurrent_writers_on_one_stream_never_share_a_version<
    S: EventStore + Clone,
>(
    store: &S,
) {
    let stream = unique_stream("Contended");
    let writers = (0..WRITERS).map(|w| {
        let (store, stream) = (store.clone(), stream.clone());
        tokio::spawn(async move {
            let mut committed = 0u64;
            for i in 0..10 {
                loop {
                    let version = store.read_stream(&stream, 1).await.expect("read").len() as u64;
                    let batch = vec![event(w * 1000 + i)];
                    let expected = ExpectedVersion::Exact(version);
                    match try_append(&store, &stream, expected, batch).await {
                        Ok(_) => {
                            committed += 1;
                            break;
                        }
                        Err(StoreError::Conflict(c)) => {
                            assert!(c.actual > version, "a conflict reports a newer version")
                        }
                        Err(e) => panic!("unexpected error under contention: {e}"),
                    }
                }
            }
            committed
        })
    });
    let mut committed = 0;
    for writer in futures::future::join_all(writers).await {
        committed += writer.expect("writer task");
    }
    let read = store.read_stream(&stream, 1).await.expect("read");
    assert_eq!(
        read.len() as u64,
        committed,
        "every success is stored once, nothing else"
    );
    assert_eq!(
        read.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=committed).collect::<Vec<_>>(),
        "versions are dense and unique"
    );
}

/// Appends for one writer; returns the highest position it committed.
async fn write_many<S: EventStore + Clone>(store: S, writer: u64) -> u64 {
    let mut last = 0;
    for i in 0..APPENDS_PER_WRITER {
        let stream = unique_stream(&format!("Writer{writer}"));
        let size = 1 + (writer + i) % 3;
        let batch = (0..size)
            .map(|k| event(writer * 1_000_000 + i * 10 + k))
            .collect();
        let result = append_ok(&store, &stream, ExpectedVersion::NoStream, batch).await;
        last = last.max(last_position(&result));
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    last
}

/// Catches up from its last position until it has passed `target` (the highest committed
/// position, published once every writer finished; 0 until then).
async fn catch_up_until_done<S: EventStore>(
    store: S,
    target: Arc<AtomicU64>,
) -> Vec<RecordedEvent> {
    let mut seen: Vec<RecordedEvent> = Vec::new();
    let mut next = 1;
    loop {
        let page = store.read_all(next, 37).await.expect("read_all");
        if let Some(last) = page.last() {
            next = last.position + 1;
            seen.extend(page);
            continue;
        }
        let target = target.load(Ordering::SeqCst);
        if target != 0 && next > target {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Writers append to many streams in parallel while a reader catches up from its last
/// position; the reader must see exactly the final log, in order, with nothing skipped.
pub(crate) async fn catch_up_reader_never_skips_with_concurrent_writers<S: EventStore + Clone>(
    store: &S,
) {
    let target = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn(catch_up_until_done(store.clone(), target.clone()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write_many(store.clone(), w)))
        .collect();
    let mut last = 0;
    for writer in futures::future::join_all(writers).await {
        last = last.max(writer.expect("writer task"));
    }
    target.store(last, Ordering::SeqCst);
    let seen = reader.await.expect("reader task");

    let log = settled_log(store, last).await;
    let expected: u64 = (0..WRITERS)
        .map(|w| {
            (0..APPENDS_PER_WRITER)
                .map(|i| 1 + (w + i) % 3)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(log.len() as u64, expected, "every append is in the log");
    assert!(
        seen.windows(2).all(|p| p[0].position < p[1].position),
        "the reader sees increasing positions"
    );
    let seen_ids: Vec<_> = seen.iter().map(|e| e.event_id).collect();
    let log_ids: Vec<_> = log.iter().map(|e| e.event_id).collect();
    if seen_ids != log_ids {
        let seen_set: HashSet<_> = seen_ids.iter().collect();
        let skipped: Vec<_> = log
            .iter()
            .filter(|e| !seen_set.contains(&e.event_id))
            .map(|e| e.position)
            .collect();
        panic!(
            "the catch-up reader saw {} events, the log holds {}; skipped positions: {:?}",
            seen_ids.len(),
            log_ids.len(),
            &skipped[..skipped.len().min(20)]
        );
    }
}
