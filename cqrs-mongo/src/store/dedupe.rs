//! Idempotent appends: recognising a batch that was stored before.
//!
//! Same rule as the in-memory store: a batch is a retry when its first event id is stored
//! and the following versions of that stream hold the batch's ids in order, in the stream
//! the batch is appended to. Any other reuse of a stored id is
//! [`StoreError::DuplicateEventId`].

use std::collections::HashMap;

use cqrs_core::{AppendResult, RecordedEvent, StoreError};
use uuid::Uuid;

/// Decides what a batch whose ids are partly or wholly stored means. `stored` holds the
/// stored events with any of the batch's ids (in any order); it must not be empty.
pub(crate) fn resolve_previous(
    stream_id: &str,
    batch: &[Uuid],
    stored: Vec<RecordedEvent>,
) -> Result<AppendResult, StoreError> {
    let by_id: HashMap<Uuid, RecordedEvent> = stored.into_iter().map(|e| (e.event_id, e)).collect();
    let duplicate = |event_id: Uuid, at: &RecordedEvent| StoreError::DuplicateEventId {
        stream: stream_id.to_owned(),
        event_id,
        detail: format!(
            "at position {} (stream `{}` version {}), not as part of this batch",
            at.position, at.stream_id, at.stream_version
        ),
    };
    let Some(first) = batch.first().and_then(|id| by_id.get(id)) else {
        // The first id is new but a later one is stored.
        let (id, at) = batch
            .iter()
            .find_map(|id| by_id.get(id).map(|at| (*id, at)))
            .ok_or_else(|| {
                StoreError::Corrupt(
                    "idempotency check found stored ids that are not in the batch".into(),
                )
            })?;
        return Err(duplicate(id, at));
    };
    let mut original = Vec::with_capacity(batch.len());
    for (offset, id) in batch.iter().enumerate() {
        let same = by_id.get(id).filter(|r| {
            &*r.stream_id == stream_id && r.stream_version == first.stream_version + offset as u64
        });
        match same {
            Some(recorded) => original.push(recorded.clone()),
            None => return Err(duplicate(*id, by_id.get(id).unwrap_or(first))),
        }
    }
    Ok(AppendResult {
        current_version: original.last().map_or(0, |r| r.stream_version),
        events: original,
        deduplicated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_core::{JsonPayload, Metadata};
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

    #[test]
    fn the_same_batch_in_the_same_stream_is_a_retry() {
        let stored = vec![recorded("S-1", 4, 10), recorded("S-1", 5, 11)];
        let ids: Vec<Uuid> = stored.iter().map(|e| e.event_id).collect();
        // Stored events may come back in any order.
        let result = resolve_previous("S-1", &ids, stored.iter().rev().cloned().collect()).unwrap();
        assert!(result.deduplicated);
        assert_eq!(result.current_version, 5);
        assert_eq!(result.events, stored);
    }

    #[test]
    fn an_id_stored_in_another_stream_is_a_duplicate() {
        let stored = recorded("Other-1", 1, 3);
        let error = resolve_previous("S-1", &[stored.event_id], vec![stored.clone()]).unwrap_err();
        match error {
            StoreError::DuplicateEventId {
                stream,
                event_id,
                detail,
            } => {
                assert_eq!(stream, "S-1");
                assert_eq!(event_id, stored.event_id);
                assert!(
                    detail.contains("position 3") && detail.contains("Other-1"),
                    "{detail}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_stored_id_after_a_new_one_is_a_duplicate() {
        let stored = recorded("S-1", 1, 1);
        let ids = [Uuid::now_v7(), stored.event_id];
        let error = resolve_previous("S-1", &ids, vec![stored.clone()]).unwrap_err();
        assert!(
            matches!(error, StoreError::DuplicateEventId { event_id, .. } if event_id == stored.event_id)
        );
    }

    #[test]
    fn a_batch_extending_a_stored_one_is_a_duplicate() {
        let stored = recorded("S-1", 1, 1);
        let new_id = Uuid::now_v7();
        let error = resolve_previous("S-1", &[stored.event_id, new_id], vec![stored]).unwrap_err();
        assert!(
            matches!(error, StoreError::DuplicateEventId { event_id, .. } if event_id == new_id)
        );
    }

    #[test]
    fn stored_events_out_of_order_are_a_duplicate() {
        let a = recorded("S-1", 1, 1);
        let b = recorded("S-1", 2, 2);
        let error =
            resolve_previous("S-1", &[b.event_id, a.event_id], vec![a.clone(), b]).unwrap_err();
        assert!(
            matches!(error, StoreError::DuplicateEventId { event_id, .. } if event_id == a.event_id)
        );
    }
}
