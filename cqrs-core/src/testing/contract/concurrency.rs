//! Concurrent writers and a concurrent catch-up reader.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{event, unique_stream, whole_log};
use crate::{EventStore, ExpectedVersion, Metadata, RecordedEvent, StoreError};

const WRITERS: u64 = 8;
const APPENDS_PER_WRITER: u64 = 60;

pub(crate) async fn concurrent_writers_on_one_stream_never_share_a_version<S: EventStore>(
    store: &S,
) {
    let stream = unique_stream("Contended");
    let writers = (0..WRITERS).map(|w| {
        let stream = stream.clone();
        async move {
            let (mut committed, mut conflicts) = (0u64, 0u64);
            for i in 0..10 {
                loop {
                    let version = store.read_stream(&stream, 1).await.expect("read").len() as u64;
                    let batch = vec![event(w * 1000 + i)];
                    match store
                        .append(
                            &stream,
                            ExpectedVersion::Exact(version),
                            batch,
                            &Metadata::default(),
                        )
                        .await
                    {
                        Ok(_) => {
                            committed += 1;
                            break;
                        }
                        Err(StoreError::Conflict(c)) => {
                            assert!(c.actual > version, "a conflict reports a newer version");
                            conflicts += 1;
                        }
                        Err(e) => panic!("unexpected error under contention: {e}"),
                    }
                }
            }
            (committed, conflicts)
        }
    });
    let results = futures::future::join_all(writers).await;
    let committed: u64 = results.iter().map(|r| r.0).sum();
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

/// Writers append to many streams concurrently while a reader catches up from its last
/// position; the reader must see exactly the final log, in order, with nothing skipped.
pub(crate) async fn catch_up_reader_never_skips_with_concurrent_writers<S: EventStore>(store: &S) {
    let done = AtomicBool::new(false);
    let writers = async {
        let tasks = (0..WRITERS).map(|w| async move {
            for i in 0..APPENDS_PER_WRITER {
                let stream = unique_stream(&format!("Writer{w}"));
                let size = 1 + (w + i) % 3;
                let batch = (0..size)
                    .map(|k| event(w * 1_000_000 + i * 10 + k))
                    .collect();
                store
                    .append(
                        &stream,
                        ExpectedVersion::NoStream,
                        batch,
                        &Metadata::default(),
                    )
                    .await
                    .expect("append");
                if i % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        futures::future::join_all(tasks).await;
        done.store(true, Ordering::SeqCst);
    };
    let reader = async {
        let mut seen: Vec<RecordedEvent> = Vec::new();
        let mut next = 1;
        loop {
            let finished = done.load(Ordering::SeqCst);
            let page = store.read_all(next, 37).await.expect("read_all");
            if let Some(last) = page.last() {
                next = last.position + 1;
                seen.extend(page);
            } else if finished {
                return seen;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let ((), seen) = tokio::join!(writers, reader);
    let log = whole_log(store).await;
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
