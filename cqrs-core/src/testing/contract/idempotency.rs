//! Idempotent appends by event id, and atomic batches.

use super::{
    append_ok, event, events, last_position, settled_log, try_append, unique_stream, whole_log,
};
use crate::{EventStore, ExpectedVersion, StoreError};

pub(crate) async fn retried_batch_returns_the_original_result<S: EventStore>(store: &S) {
    let stream = unique_stream("Retry");
    let batch = events(0..3);
    let original = append_ok(store, &stream, ExpectedVersion::NoStream, batch.clone()).await;
    assert!(!original.deduplicated);
    let log = settled_log(store, last_position(&original)).await;
    // A retry after a lost reply: the expectation is now stale, the ids are stored.
    let retried = append_ok(store, &stream, ExpectedVersion::NoStream, batch.clone()).await;
    assert!(
        retried.deduplicated,
        "a retried batch must be reported as deduplicated"
    );
    assert_eq!(retried.current_version, original.current_version);
    assert_eq!(
        retried.events, original.events,
        "a retry returns the original envelopes"
    );
    assert_eq!(
        settled_log(store, last_position(&original)).await,
        log,
        "a retry must not write anything"
    );
    // A retry of an earlier batch after the stream moved on is still the original result.
    append_ok(store, &stream, ExpectedVersion::Exact(3), events(3..4)).await;
    let late = append_ok(store, &stream, ExpectedVersion::Exact(0), batch).await;
    assert!(late.deduplicated);
    assert_eq!(late.current_version, 3);
}

pub(crate) async fn reused_event_id_is_refused_and_nothing_written<S: EventStore>(store: &S) {
    let stream = unique_stream("Reuse");
    let stored = events(0..2);
    let first = append_ok(store, &stream, ExpectedVersion::NoStream, stored.clone()).await;
    let log = settled_log(store, last_position(&first)).await;

    // The same id in another stream.
    let other = unique_stream("Reuse");
    let result = try_append(store, &other, ExpectedVersion::Any, vec![stored[0].clone()]).await;
    assert!(
        matches!(result, Err(StoreError::DuplicateEventId { ref event_id, .. }) if *event_id == stored[0].event_id),
        "reusing an id in another stream must be DuplicateEventId, got {result:?}"
    );
    // A batch that only partly overlaps a stored one.
    let partial = vec![stored[0].clone(), event(7)];
    let result = try_append(store, &stream, ExpectedVersion::Any, partial).await;
    assert!(
        matches!(result, Err(StoreError::DuplicateEventId { .. })),
        "a partly stored batch must be DuplicateEventId, got {result:?}"
    );
    // The stored ids in another order are not the same batch either.
    let reversed = vec![stored[1].clone(), stored[0].clone()];
    let result = try_append(store, &stream, ExpectedVersion::Any, reversed).await;
    assert!(
        matches!(result, Err(StoreError::DuplicateEventId { .. })),
        "a reordered batch must be DuplicateEventId, got {result:?}"
    );
    assert_eq!(
        settled_log(store, last_position(&first)).await,
        log,
        "refused batches must write nothing"
    );
}

pub(crate) async fn duplicate_id_inside_a_batch_is_refused<S: EventStore>(store: &S) {
    let stream = unique_stream("DupInBatch");
    let (e, other) = (event(0), event(1));
    let result = try_append(
        store,
        &stream,
        ExpectedVersion::Any,
        vec![e.clone(), other.clone(), e.clone()],
    )
    .await;
    assert!(
        matches!(result, Err(StoreError::DuplicateEventId { .. })),
        "an id twice in one batch must be DuplicateEventId, got {result:?}"
    );
    assert!(
        whole_log(store).await.is_empty(),
        "nothing of the batch may be written"
    );
    // Not even its ids: the same events, without the repeat, are a new batch.
    let result = append_ok(store, &stream, ExpectedVersion::NoStream, vec![e, other]).await;
    assert!(
        !result.deduplicated && result.current_version == 2,
        "the refused batch's ids must not be kept"
    );
}

pub(crate) async fn failing_batch_is_atomic<S: EventStore>(store: &S) {
    let taken = event(0);
    let first_stream = unique_stream("Atomic");
    let first = append_ok(
        store,
        &first_stream,
        ExpectedVersion::NoStream,
        vec![taken.clone()],
    )
    .await;
    // The last event of this batch collides, after the others could have been written.
    let stream = unique_stream("Atomic");
    let mut batch = events(1..6);
    batch.push(taken);
    let result = try_append(store, &stream, ExpectedVersion::NoStream, batch).await;
    assert!(
        result.is_err(),
        "a batch with a stored id in another stream must fail"
    );
    assert!(
        store
            .read_stream(&stream, 1)
            .await
            .expect("read")
            .is_empty(),
        "no event of a failed batch may be visible"
    );
    assert_eq!(settled_log(store, last_position(&first)).await.len(), 1);
    // The stream is still usable afterwards.
    let result = append_ok(store, &stream, ExpectedVersion::NoStream, events(1..6)).await;
    assert_eq!(result.current_version, 5);
}
