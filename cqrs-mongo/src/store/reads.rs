//! Reading streams, the global log and its head, and events by id.
//!
//! All reads use majority read concern: a reader only sees events that survive a failover.
//! The global log is gap-free for readers because positions are allocated in commit order
//! (see [`append`](super::append)): every committed position is below every position a
//! still-open transaction holds, so a reader that resumes after the last position it saw
//! never skips one.

use bson::Document;
use cqrs_core::{RecordedEvent, StoreError};
use futures::TryStreamExt;
use mongodb::{ClientSession, Collection, Cursor, SessionCursor};
use uuid::Uuid;

use super::BodyError;
use crate::codec::{decode_event, get_u64, u64_to_i64};
use crate::error::{corrupt, store_error};
use crate::queries;

pub(crate) async fn read_stream(
    events: &Collection<Document>,
    stream_id: &str,
    from_version: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let Some(from) = u64_to_i64(from_version.max(1)) else {
        return Ok(Vec::new());
    };
    let cursor = events
        .find(queries::stream_from(stream_id, from))
        .sort(queries::by_version())
        .await
        .map_err(|e| store_error("read_stream", e))?;
    collect(cursor, "read_stream").await
}

pub(crate) async fn read_all(
    events: &Collection<Document>,
    from_position: u64,
    max: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let Some(from) = u64_to_i64(from_position.max(1)) else {
        return Ok(Vec::new());
    };
    // A limit of 0 means "no limit" to MongoDB.
    if max == 0 {
        return Ok(Vec::new());
    }
    let cursor = events
        .find(queries::log_from(from))
        .sort(queries::by_position())
        .limit(i64::try_from(max).unwrap_or(i64::MAX))
        .await
        .map_err(|e| store_error("read_all", e))?;
    collect(cursor, "read_all").await
}

/// The stored events carrying any of `ids`, in no particular order (the unique `event_id`
/// index).
pub(crate) async fn read_events_by_id(
    events: &Collection<Document>,
    ids: &[Uuid],
) -> Result<Vec<RecordedEvent>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let cursor = events
        .find(queries::events_with_ids(ids))
        .await
        .map_err(|e| store_error("read_events_by_id", e))?;
    collect(cursor, "read_events_by_id").await
}

pub(crate) async fn head_position(events: &Collection<Document>) -> Result<u64, StoreError> {
    let last = events
        .find_one(Document::new())
        .sort(queries::last_position_first())
        .projection(queries::position_only())
        .await
        .map_err(|e| store_error("head_position", e))?;
    match last {
        None => Ok(0),
        Some(document) => {
            get_u64(&document, "_id").map_err(|e| corrupt(format!("head of the event log: {e}")))
        }
    }
}

/// Decodes every event of `cursor` as it arrives; the first undecodable document is
/// reported as corrupt data.
async fn collect(
    mut cursor: Cursor<Document>,
    operation: &'static str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = Vec::new();
    while let Some(document) = cursor
        .try_next()
        .await
        .map_err(|e| store_error(operation, e))?
    {
        events.push(decode_event(&document).map_err(corrupt)?);
    }
    Ok(events)
}

/// [`collect`] for a cursor of a transaction's session: driver errors stay driver errors
/// (the transaction decides whether to retry them).
pub(crate) async fn collect_in(
    mut cursor: SessionCursor<Document>,
    session: &mut ClientSession,
) -> Result<Vec<RecordedEvent>, BodyError> {
    let mut events = Vec::new();
    while let Some(document) = cursor.next(&mut *session).await.transpose()? {
        events.push(decode_event(&document).map_err(corrupt)?);
    }
    Ok(events)
}
