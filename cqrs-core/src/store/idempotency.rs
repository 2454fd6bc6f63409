//! Idempotent appends by event id: the rules every store applies, written once.
//!
//! # For store implementers
//! Event ids are unique across the whole store. When an append brings ids that are already
//! stored, the store does not decide alone what that means; it applies these rules:
//!
//! 1. **Ids repeated within the batch** are refused before anything else, by
//!    [`validate_append`](super::validate_append) (which every store calls first), as
//!    [`StoreError::DuplicateEventId`] with the detail `twice within the same batch`.
//! 2. **A retried batch**: the batch's first id is stored, and the versions that follow it
//!    in that stream hold the batch's other ids, in order, all in the stream the batch is
//!    appended to. The store writes nothing and returns the original [`AppendResult`]
//!    with `deduplicated: true`, whatever the expected version says (a retry after a lost
//!    reply carries an expectation the original made stale).
//! 3. **Any other reuse of a stored id** (in another stream, a batch that only partly
//!    overlaps a stored one, the stored ids in another order) is
//!    [`StoreError::DuplicateEventId`] with the detail
//!    `at position P (stream `S` version V), not as part of this batch`, naming where the
//!    reused id is stored. Nothing is written.
//!
//! A store finds the stored events that carry any of the batch's ids (one lookup by id;
//! order does not matter) and, when there are any, lets [`resolve_stored_ids`] decide
//! between 2 and 3. Stores usually look only when the append did not go through (the
//! expected version did not match, or a unique index on the event id refused it), so an
//! append of new events pays nothing for idempotency.
//!
//! ```
//! use std::sync::Arc;
//! use cqrs_core::store::resolve_stored_ids;
//! use cqrs_core::{JsonPayload, Metadata, RecordedEvent, StoreError};
//! use uuid::Uuid;
//!
//! // What the store holds for the batch's ids (here: the batch, stored at versions 1-2).
//! let stored = |version: u64| RecordedEvent {
//!     event_id: Uuid::now_v7(),
//!     stream_id: Arc::from("Order-1"),
//!     stream_version: version,
//!     position: 40 + version,
//!     recorded_at: chrono::Utc::now(),
//!     event_type: Arc::from("Placed"),
//!     event_version: 1,
//!     payload: JsonPayload::parse("{}").unwrap(),
//!     metadata: Arc::new(Metadata::default()),
//! };
//! let original = vec![stored(1), stored(2)];
//! let batch: Vec<Uuid> = original.iter().map(|e| e.event_id).collect();
//!
//! // The same ids, in the same order, in the same stream: a retry.
//! let retry = resolve_stored_ids("Order-1", &batch, original.clone()).unwrap();
//! assert!(retry.deduplicated);
//! assert_eq!(retry.events, original);
//!
//! // The same ids in another stream: a reused id.
//! let reused = resolve_stored_ids("Order-2", &batch, original).unwrap_err();
//! assert!(matches!(reused, StoreError::DuplicateEventId { .. }));
//! ```

use std::collections::HashMap;

use uuid::Uuid;

use super::AppendResult;
use crate::envelope::RecordedEvent;
use crate::error::StoreError;
use crate::event::NewEvent;

/// Batches up to this many events are checked for repeated ids pair by pair (no
/// allocation); larger ones with a hash set.
const PAIRWISE_MAX: usize = 16;

/// Decides what an append of `batch` (its event ids, in order) to `stream_id` means when
/// some of those ids are stored: rule 2 of the [module docs](self), the original result
/// (`deduplicated: true`), or rule 3, [`StoreError::DuplicateEventId`].
///
/// `stored` holds the stored events that carry any of the batch's ids, in any order. It
/// must hold at least one: the caller looked the ids up and found some. An empty `stored`
/// (or one holding none of the batch's ids) is the caller's bug, reported as
/// [`StoreError::Corrupt`].
pub fn resolve_stored_ids(
    stream_id: &str,
    batch: &[Uuid],
    stored: Vec<RecordedEvent>,
) -> Result<AppendResult, StoreError> {
    let mut by_id: HashMap<Uuid, RecordedEvent> =
        stored.into_iter().map(|e| (e.event_id, e)).collect();
    let Some(first) = batch.first().and_then(|id| by_id.get(id)) else {
        // The first id is new, so this is no retry: a later id is reused.
        return Err(batch
            .iter()
            .find_map(|id| by_id.get(id).map(|at| reused(stream_id, *id, at)))
            .unwrap_or_else(|| {
                StoreError::Corrupt(format!(
                    "the idempotency check of an append to `{stream_id}` found stored events \
                     that carry none of the batch's ids"
                ))
            }));
    };
    for (offset, id) in batch.iter().enumerate() {
        match by_id.get(id) {
            Some(at)
                if &*at.stream_id == stream_id
                    && at.stream_version == first.stream_version + offset as u64 => {}
            Some(at) => return Err(reused(stream_id, *id, at)),
            // The batch goes on past what was stored with its first id.
            None => return Err(reused(stream_id, *id, first)),
        }
    }
    // Every id was found above, each once (a repeated id would have failed the version
    // check), so this moves the whole original out.
    let events: Vec<RecordedEvent> = batch.iter().filter_map(|id| by_id.remove(id)).collect();
    Ok(AppendResult {
        current_version: events.last().map_or(0, |e| e.stream_version),
        events,
        deduplicated: true,
    })
}

/// Rule 3: `event_id`, appended to `stream_id`, is stored as `at`, not as part of this batch.
fn reused(stream_id: &str, event_id: Uuid, at: &RecordedEvent) -> StoreError {
    StoreError::DuplicateEventId {
        stream: stream_id.to_owned(),
        event_id,
        detail: format!(
            "at position {} (stream `{}` version {}), not as part of this batch",
            at.position, at.stream_id, at.stream_version
        ),
    }
}

/// Rule 1: the first id that appears twice in `events`, as
/// [`StoreError::DuplicateEventId`]. Free for a batch of one event; no allocation up to
/// [`PAIRWISE_MAX`] events.
pub(super) fn refuse_repeated_ids(stream_id: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    let repeated = match events.len() {
        0 | 1 => None,
        len if len <= PAIRWISE_MAX => events
            .iter()
            .enumerate()
            .find(|(i, e)| events[..*i].iter().any(|seen| seen.event_id == e.event_id))
            .map(|(_, e)| e.event_id),
        len => {
            let mut seen = std::collections::HashSet::with_capacity(len);
            events
                .iter()
                .find(|e| !seen.insert(e.event_id))
                .map(|e| e.event_id)
        }
    };
    match repeated {
        None => Ok(()),
        Some(event_id) => {
            tracing::warn!(stream = stream_id, %event_id, "append rejected: an id twice in one batch");
            Err(StoreError::DuplicateEventId {
                stream: stream_id.to_owned(),
                event_id,
                detail: "twice within the same batch".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{validate_append, StoreLimits};
    use crate::{JsonPayload, Metadata};
    use std::sync::Arc;

    fn recorded(stream: &str, version: u64, position: u64) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream.into(),
            stream_version: version,
            position,
            recorded_at: chrono::Utc::now(),
            event_type: "Happened".into(),
            event_version: 1,
            payload: JsonPayload::parse("{}").unwrap(),
            metadata: Arc::new(Metadata::default()),
        }
    }

    fn ids(events: &[RecordedEvent]) -> Vec<Uuid> {
        events.iter().map(|e| e.event_id).collect()
    }

    /// The reused id and the detail of a [`StoreError::DuplicateEventId`].
    fn duplicate(error: StoreError) -> (String, Uuid, String) {
        match error {
            StoreError::DuplicateEventId {
                stream,
                event_id,
                detail,
            } => (stream, event_id, detail),
            other => panic!("expected DuplicateEventId, got {other:?}"),
        }
    }

    #[test]
    fn the_same_batch_in_the_same_stream_is_a_retry() {
        let stored = vec![
            recorded("S-1", 4, 10),
            recorded("S-1", 5, 11),
            recorded("S-1", 6, 15),
        ];
        // Stored events may come back in any order.
        let result =
            resolve_stored_ids("S-1", &ids(&stored), stored.iter().rev().cloned().collect())
                .unwrap();
        assert!(result.deduplicated);
        assert_eq!(result.current_version, 6);
        assert_eq!(result.events, stored, "the originals, in batch order");
    }

    #[test]
    fn a_retry_of_a_single_event_is_recognised() {
        let stored = recorded("S-1", 1, 1);
        let result = resolve_stored_ids("S-1", &[stored.event_id], vec![stored.clone()]).unwrap();
        assert!(result.deduplicated);
        assert_eq!(result.current_version, 1);
        assert_eq!(result.events, [stored]);
    }

    #[test]
    fn an_id_stored_in_another_stream_is_a_duplicate_naming_where_it_is() {
        let stored = recorded("Other-1", 7, 3);
        let (stream, event_id, detail) = duplicate(
            resolve_stored_ids("S-1", &[stored.event_id], vec![stored.clone()]).unwrap_err(),
        );
        assert_eq!(stream, "S-1");
        assert_eq!(event_id, stored.event_id);
        assert_eq!(
            detail,
            "at position 3 (stream `Other-1` version 7), not as part of this batch"
        );
    }

    #[test]
    fn a_stored_id_after_a_new_one_is_a_duplicate() {
        let stored = recorded("S-1", 1, 1);
        let batch = [Uuid::now_v7(), stored.event_id];
        let (_, event_id, detail) =
            duplicate(resolve_stored_ids("S-1", &batch, vec![stored.clone()]).unwrap_err());
        assert_eq!(event_id, stored.event_id);
        assert!(
            detail.contains("position 1 (stream `S-1` version 1)"),
            "{detail}"
        );
    }

    #[test]
    fn a_batch_extending_a_stored_one_is_a_duplicate_of_its_first_new_id() {
        let stored = recorded("S-1", 1, 1);
        let new_id = Uuid::now_v7();
        let (_, event_id, detail) = duplicate(
            resolve_stored_ids("S-1", &[stored.event_id, new_id], vec![stored]).unwrap_err(),
        );
        assert_eq!(event_id, new_id);
        // It names where the batch's first id is stored.
        assert!(
            detail.contains("position 1 (stream `S-1` version 1)"),
            "{detail}"
        );
    }

    #[test]
    fn stored_events_out_of_order_are_a_duplicate() {
        let a = recorded("S-1", 1, 1);
        let b = recorded("S-1", 2, 2);
        let (_, event_id, _) = duplicate(
            resolve_stored_ids("S-1", &[b.event_id, a.event_id], vec![a.clone(), b]).unwrap_err(),
        );
        assert_eq!(event_id, a.event_id);
    }

    #[test]
    fn stored_events_with_a_gap_are_a_duplicate() {
        // Versions 1 and 3 of the stream, appended as one batch of two: not the original.
        let a = recorded("S-1", 1, 1);
        let c = recorded("S-1", 3, 3);
        let (_, event_id, detail) = duplicate(
            resolve_stored_ids("S-1", &[a.event_id, c.event_id], vec![a, c.clone()]).unwrap_err(),
        );
        assert_eq!(event_id, c.event_id);
        assert!(detail.contains("version 3"), "{detail}");
    }

    #[test]
    fn a_batch_whose_later_ids_are_in_another_stream_is_a_duplicate() {
        let a = recorded("S-1", 1, 1);
        let b = recorded("S-2", 2, 2);
        let (_, event_id, detail) = duplicate(
            resolve_stored_ids("S-1", &[a.event_id, b.event_id], vec![a, b.clone()]).unwrap_err(),
        );
        assert_eq!(event_id, b.event_id);
        assert!(detail.contains("stream `S-2`"), "{detail}");
    }

    #[test]
    fn a_repeated_id_is_never_a_retry() {
        let a = recorded("S-1", 1, 1);
        let error = resolve_stored_ids("S-1", &[a.event_id, a.event_id], vec![a]).unwrap_err();
        assert!(
            matches!(error, StoreError::DuplicateEventId { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn stored_events_without_any_of_the_ids_are_reported_as_corrupt() {
        let unrelated = recorded("S-1", 1, 1);
        let error = resolve_stored_ids("S-1", &[Uuid::now_v7()], vec![unrelated]).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
        let error = resolve_stored_ids("S-1", &[Uuid::now_v7()], Vec::new()).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
    }

    fn new_events(n: usize) -> Vec<NewEvent> {
        (0..n)
            .map(|_| NewEvent::raw("Happened", 1, JsonPayload::parse("{}").unwrap()))
            .collect()
    }

    #[test]
    fn a_repeated_id_is_found_in_small_and_large_batches() {
        for len in [2, 3, PAIRWISE_MAX, PAIRWISE_MAX + 1, 500] {
            let mut events = new_events(len);
            assert!(
                refuse_repeated_ids("S-1", &events).is_ok(),
                "{len} distinct ids"
            );
            let repeated = events[len / 3].event_id;
            events[len - 1].event_id = repeated;
            let (stream, event_id, detail) =
                duplicate(refuse_repeated_ids("S-1", &events).unwrap_err());
            assert_eq!(
                (stream.as_str(), event_id),
                ("S-1", repeated),
                "{len} events"
            );
            assert_eq!(detail, "twice within the same batch");
        }
        assert!(refuse_repeated_ids("S-1", &new_events(1)).is_ok());
        assert!(refuse_repeated_ids("S-1", &[]).is_ok());
    }

    #[test]
    fn an_id_twice_in_a_batch_is_refused_as_a_duplicate_after_the_limits() {
        let limits = StoreLimits {
            max_batch_len: 3,
            ..StoreLimits::default()
        };
        let mut batch = new_events(3);
        batch[2].event_id = batch[0].event_id;
        match validate_append("Order-1", &batch, &Metadata::default(), &limits) {
            Err(StoreError::DuplicateEventId {
                stream,
                event_id,
                detail,
            }) => {
                assert_eq!(stream, "Order-1");
                assert_eq!(event_id, batch[0].event_id);
                assert_eq!(detail, "twice within the same batch");
            }
            other => panic!("expected DuplicateEventId, got {other:?}"),
        }
        // An oversized batch is refused for its size, before its ids are compared.
        batch.push(batch[0].clone());
        let oversized = validate_append("Order-1", &batch, &Metadata::default(), &limits);
        assert!(
            matches!(&oversized, Err(StoreError::InvalidInput { reason, .. }) if reason.contains("4 events")),
            "{oversized:?}"
        );
        // The same event twice in a row, the smallest case.
        let one = new_events(1).remove(0);
        assert!(matches!(
            validate_append(
                "Order-1",
                &[one.clone(), one],
                &Metadata::default(),
                &limits
            ),
            Err(StoreError::DuplicateEventId { .. })
        ));
    }
}
