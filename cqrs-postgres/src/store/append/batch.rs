//! The append path: one statement that checks the expected version and inserts the batch,
//! and the resolution of the rare outcomes (conflict, retried batch, reused id).

use std::sync::Arc;

use cqrs_core::{
    AppendResult, Conflict, ExpectedVersion, JsonPayload, Metadata, NewEvent, RecordedEvent,
    StoreError,
};
use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres, Row};
use uuid::Uuid;

use super::rows::{to_i64, to_u64, EventDecoder};
use crate::error::map_sqlx;

/// Positions keep the index of an event within its transaction in their low 20 bits.
pub(crate) const INDEX_BITS: u32 = 20;
/// Most events one transaction can append (2^20).
pub(crate) const MAX_EVENTS_PER_TRANSACTION: usize = 1 << INDEX_BITS;

/// One batch, encoded for `append.sql`.
pub(crate) struct EncodedBatch<'a> {
    stream_id: &'a str,
    expected: ExpectedVersion,
    ids: Vec<Uuid>,
    types: Vec<&'a str>,
    versions: Vec<i32>,
    payloads: Vec<&'a str>,
    metadata_json: String,
    metadata: Arc<Metadata>,
}

/// What `append.sql` did.
pub(crate) enum Outcome {
    /// The batch was inserted (not yet committed when run inside a transaction).
    Appended(AppendResult),
    /// The expected version did not match; nothing was inserted.
    Rejected {
        /// The stream's version seen by the statement.
        actual: u64,
    },
}

impl<'a> EncodedBatch<'a> {
    /// Encodes `events`; refuses ids repeated within the batch and schema versions that do
    /// not fit the `integer` column.
    pub(crate) fn new(
        stream_id: &'a str,
        expected: ExpectedVersion,
        events: &'a [NewEvent],
        metadata: &Metadata,
    ) -> Result<Self, StoreError> {
        let versions = check_events(stream_id, events)?;
        Ok(Self {
            stream_id,
            expected,
            ids: events.iter().map(|e| e.event_id).collect(),
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            versions,
            payloads: events.iter().map(|e| e.payload.as_str()).collect(),
            metadata_json: encode_metadata(stream_id, metadata)?,
            metadata: Arc::new(metadata.clone()),
        })
    }

    /// The batch's event ids.
    pub(crate) fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// Runs `append.sql` once. `first_index` is the index of the first event within the
    /// transaction.
    pub(crate) async fn run<'c, E>(
        &self,
        executor: E,
        sql: &str,
        events: &[NewEvent],
        first_index: usize,
    ) -> Result<Outcome, sqlx::Error>
    where
        E: Executor<'c, Database = Postgres>,
    {
        let (kind, exact) = expectation(self.expected);
        let row = sqlx::query(sql)
            .bind(self.stream_id)
            .bind(kind)
            .bind(exact)
            .bind(&self.ids)
            .bind(&self.types)
            .bind(&self.versions)
            .bind(&self.payloads)
            .bind(&self.metadata_json)
            .bind(first_index as i64)
            .fetch_one(executor)
            .await?;
        decode_outcome(&row, self.stream_id, events, &self.metadata)
    }

    /// A conflict of this batch with the stream at `actual`.
    pub(crate) fn conflict(&self, actual: u64) -> StoreError {
        conflict(self.stream_id, self.expected, actual)
    }
}

fn conflict(stream_id: &str, expected: ExpectedVersion, actual: u64) -> StoreError {
    Conflict {
        stream: stream_id.to_owned(),
        expected,
        actual,
    }
    .into()
}

/// An empty append: checks `expected` against the stream's current version and writes
/// nothing.
pub(crate) async fn check_version_only<'c, E>(
    executor: E,
    sql: &str,
    stream_id: &str,
    expected: ExpectedVersion,
) -> Result<AppendResult, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let current = stream_version(executor, sql, stream_id).await?;
    if !expected.accepts(current) {
        return Err(conflict(stream_id, expected, current));
    }
    Ok(AppendResult {
        current_version: current,
        events: Vec::new(),
        deduplicated: false,
    })
}

/// A batch the append statements rejected because the stream was at `actual`: the
/// original result when it is a retry of a stored batch (see [`find_previous_append`]),
/// else the [`Conflict`].
pub(crate) async fn resolve_rejected<'c, E>(
    executor: E,
    find_by_ids_sql: &str,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    ids: &[Uuid],
    actual: u64,
) -> Result<AppendResult, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    match find_previous_append(executor, find_by_ids_sql, stream_id, events, ids).await? {
        Some(previous) => previous,
        None => Err(conflict(stream_id, expected, actual)),
    }
}

/// Checks what the database would refuse, so it is reported for this batch alone: ids
/// repeated within the batch, schema versions beyond the `integer` column. Returns the
/// schema versions as stored.
pub(crate) fn check_events(stream_id: &str, events: &[NewEvent]) -> Result<Vec<i32>, StoreError> {
    if events.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(events.len());
        if let Some(dup) = events.iter().find(|e| !seen.insert(e.event_id)) {
            return Err(StoreError::DuplicateEventId {
                stream: stream_id.to_owned(),
                event_id: dup.event_id,
                detail: "twice within the same batch".into(),
            });
        }
    }
    events
        .iter()
        .map(|e| {
            i32::try_from(e.event_version).map_err(|_| StoreError::InvalidInput {
                stream: stream_id.to_owned(),
                reason: format!(
                    "event {} has schema version {}, above {}",
                    e.event_id,
                    e.event_version,
                    i32::MAX
                ),
            })
        })
        .collect()
}

/// `metadata` as the JSON text bound into the `jsonb` column.
pub(crate) fn encode_metadata(stream_id: &str, metadata: &Metadata) -> Result<String, StoreError> {
    serde_json::to_string(metadata).map_err(|e| StoreError::InvalidInput {
        stream: stream_id.to_owned(),
        reason: format!("metadata does not serialize: {e}"),
    })
}

/// An [`ExpectedVersion`] as the `(kind, exact version)` pair the append statements take:
/// 0 any, 1 no stream, 2 stream exists, 3 exact.
pub(crate) fn expectation(expected: ExpectedVersion) -> (i16, i64) {
    match expected {
        ExpectedVersion::Any => (0, 0),
        ExpectedVersion::NoStream => (1, 0),
        ExpectedVersion::StreamExists => (2, 0),
        ExpectedVersion::Exact(v) => (3, to_i64(v)),
    }
}

/// Decodes one result row of the append statements: `version_before`, then `positions`,
/// `recorded_at` and `payloads` of the inserted events, all NULL when the expected version
/// did not match.
pub(crate) fn decode_outcome(
    row: &PgRow,
    stream_id: &str,
    events: &[NewEvent],
    metadata: &Arc<Metadata>,
) -> Result<Outcome, sqlx::Error> {
    let before: i64 = row.try_get(0)?;
    let before = u64::try_from(before).unwrap_or(0);
    let Some(positions) = row.try_get::<Option<Vec<i64>>, _>(1)? else {
        return Ok(Outcome::Rejected { actual: before });
    };
    let recorded_at = row
        .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(2)?
        .unwrap_or_else(chrono::Utc::now);
    let payloads: Vec<String> = row
        .try_get::<Option<Vec<String>>, _>(3)?
        .unwrap_or_default();
    if positions.len() != events.len() || payloads.len() != events.len() {
        return Err(sqlx::Error::Decode(
            format!(
                "append to `{stream_id}` returned {} positions and {} payloads for {} events",
                positions.len(),
                payloads.len(),
                events.len()
            )
            .into(),
        ));
    }
    let shared_stream: Arc<str> = Arc::from(stream_id);
    let recorded = events
        .iter()
        .zip(positions.into_iter().zip(payloads))
        .enumerate()
        .map(|(offset, (event, (position, payload)))| RecordedEvent {
            event_id: event.event_id,
            stream_id: shared_stream.clone(),
            stream_version: before + offset as u64 + 1,
            position: u64::try_from(position).unwrap_or(0),
            recorded_at,
            event_type: Arc::from(event.event_type.as_str()),
            event_version: event.event_version,
            payload: JsonPayload::from_trusted_json(payload),
            metadata: metadata.clone(),
        })
        .collect::<Vec<_>>();
    Ok(Outcome::Appended(AppendResult {
        current_version: before + recorded.len() as u64,
        events: recorded,
        deduplicated: false,
    }))
}

/// The current version of `stream_id` (0 when it does not exist).
pub(crate) async fn stream_version<'c, E>(
    executor: E,
    sql: &str,
    stream_id: &str,
) -> Result<u64, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let version: i64 = sqlx::query_scalar(sql)
        .bind(stream_id)
        .fetch_one(executor)
        .await
        .map_err(|e| map_sqlx("append", e))?;
    to_u64(version, "stream_version", stream_id)
}

/// If some id of `events` is stored: the original result when it is this exact batch in
/// this stream (a retry), else [`StoreError::DuplicateEventId`]. `None` when no id is
/// stored. Mirrors the in-memory store's rules.
pub(crate) async fn find_previous_append<'c, E>(
    executor: E,
    sql: &str,
    stream_id: &str,
    events: &[NewEvent],
    ids: &[Uuid],
) -> Result<Option<Result<AppendResult, StoreError>>, StoreError>
where
    E: Executor<'c, Database = Postgres>,
{
    let rows = sqlx::query(sql)
        .bind(ids)
        .fetch_all(executor)
        .await
        .map_err(|e| map_sqlx("append", e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut decoder = EventDecoder::default();
    let stored = rows
        .iter()
        .map(|row| decoder.decode_full(row))
        .collect::<Result<Vec<_>, _>>()?;
    let find = |id: Uuid| stored.iter().find(|r| r.event_id == id);
    let duplicate = |event_id: Uuid, at: &RecordedEvent| StoreError::DuplicateEventId {
        stream: stream_id.to_owned(),
        event_id,
        detail: format!(
            "at position {} (stream `{}` version {}), not as part of this batch",
            at.position, at.stream_id, at.stream_version
        ),
    };
    let Some(first) = events.first().and_then(|e| find(e.event_id)) else {
        // Some later id is stored, the first is not: a reused id.
        let reused = events
            .iter()
            .find_map(|e| find(e.event_id).map(|r| duplicate(e.event_id, r)));
        return Ok(reused.map(Err));
    };
    let mut original = Vec::with_capacity(events.len());
    for (offset, event) in events.iter().enumerate() {
        match find(event.event_id) {
            Some(r)
                if &*r.stream_id == stream_id
                    && r.stream_version == first.stream_version + offset as u64 =>
            {
                original.push(r.clone());
            }
            Some(r) => return Ok(Some(Err(duplicate(event.event_id, r)))),
            None => return Ok(Some(Err(duplicate(event.event_id, first)))),
        }
    }
    Ok(Some(Ok(AppendResult {
        current_version: original.last().map_or(0, |r| r.stream_version),
        events: original,
        deduplicated: true,
    })))
}
