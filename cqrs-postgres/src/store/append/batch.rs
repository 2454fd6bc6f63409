//! Steps 1, 2 and 4 of the append path: a batch validated and encoded for the append
//! statements, and their result row decoded into an [`Outcome`].

use std::sync::Arc;

use cqrs_core::store::validate_append;
use cqrs_core::{
    AppendResult, Conflict, ExpectedVersion, JsonPayload, Metadata, NewEvent, RecordedEvent,
    StoreError, StoreLimits,
};
use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres};
use uuid::Uuid;

use crate::store::rows::{get, to_i64, to_u64};

/// One validated append, validated and encoded once (ids, schema versions, metadata) for
/// however many attempts it takes (direct path, coalesced statement, its fallback); only
/// the borrowed type and payload arrays are gathered per statement.
#[derive(Debug)]
pub(crate) struct Batch {
    stream_id: Arc<str>,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    /// The event ids, in order (bound by the statements and the retried-batch lookup).
    ids: Vec<Uuid>,
    /// The schema versions as the `integer` column stores them.
    versions: Vec<i32>,
    metadata: Arc<Metadata>,
    metadata_json: String,
}

/// What an append statement did with one batch.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The batch was inserted (not yet committed when run inside a transaction).
    Appended(AppendResult),
    /// The stream's version did not satisfy the expected version; nothing was inserted.
    Rejected {
        /// The stream's version seen by the statement.
        actual: u64,
    },
}

impl Batch {
    /// Steps 1 and 2: validates the batch (cqrs-core's [`validate_append`], then the
    /// schema versions the `integer` column cannot hold) and encodes its metadata.
    pub(crate) fn prepare(
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
        limits: &StoreLimits,
    ) -> Result<Self, StoreError> {
        validate_append(stream_id, &events, metadata, limits)?;
        let versions = events
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
            .collect::<Result<_, _>>()?;
        let metadata_json =
            serde_json::to_string(metadata).map_err(|e| StoreError::InvalidInput {
                stream: stream_id.to_owned(),
                reason: format!("metadata does not serialize: {e}"),
            })?;
        let ids = events.iter().map(|e| e.event_id).collect();
        Ok(Self {
            stream_id: Arc::from(stream_id),
            expected,
            events,
            ids,
            versions,
            metadata: Arc::new(metadata.clone()),
            metadata_json,
        })
    }

    /// The stream appended to.
    pub(crate) fn stream_id(&self) -> &Arc<str> {
        &self.stream_id
    }

    /// The expectation on the stream's version.
    pub(crate) fn expected(&self) -> ExpectedVersion {
        self.expected
    }

    /// The events, in order.
    pub(crate) fn events(&self) -> &[NewEvent] {
        &self.events
    }

    /// The schema versions, as stored, in event order.
    pub(crate) fn versions(&self) -> &[i32] {
        &self.versions
    }

    /// The metadata as the JSON text bound into the `jsonb` column.
    pub(crate) fn metadata_json(&self) -> &str {
        &self.metadata_json
    }

    /// The event ids, in order.
    pub(crate) fn event_ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// The range of current versions the expected version accepts, as the append
    /// statements check it (`version BETWEEN lowest AND highest`): the one encoding of
    /// [`ExpectedVersion`] for SQL.
    pub(crate) fn accepted_versions(&self) -> (i64, i64) {
        match self.expected {
            ExpectedVersion::Any => (0, i64::MAX),
            ExpectedVersion::NoStream => (0, 0),
            ExpectedVersion::StreamExists => (1, i64::MAX),
            ExpectedVersion::Exact(version) => (to_i64(version), to_i64(version)),
        }
    }

    /// A [`Conflict`] of this batch with the stream at `actual`.
    pub(crate) fn conflict(&self, actual: u64) -> StoreError {
        Conflict {
            stream: self.stream_id.to_string(),
            expected: self.expected,
            actual,
        }
        .into()
    }

    /// Step 3: runs `append.sql` once for the batch; `first_index` is the index of its
    /// first event within the transaction. Decode the row with [`decode`](Self::decode).
    pub(crate) async fn run<'c, E>(
        &self,
        executor: E,
        sql: &str,
        first_index: usize,
    ) -> Result<PgRow, sqlx::Error>
    where
        E: Executor<'c, Database = Postgres>,
    {
        let (lowest, highest) = self.accepted_versions();
        let types: Vec<&str> = self.events.iter().map(|e| e.event_type.as_str()).collect();
        let payloads: Vec<&str> = self.events.iter().map(|e| e.payload.as_str()).collect();
        sqlx::query(sql)
            .bind(&*self.stream_id)
            .bind(lowest)
            .bind(highest)
            .bind(&self.ids)
            .bind(types)
            .bind(&self.versions)
            .bind(payloads)
            .bind(&self.metadata_json)
            .bind(to_i64(first_index as u64))
            .fetch_one(executor)
            .await
    }

    /// Step 4: decodes this batch's result row of the append statements:
    /// `version_before`, then the `positions`, `recorded_at` and `payloads` of the inserted
    /// events, all NULL when the expected version did not match. A row this store cannot
    /// have written (a negative version or position, a count that differs from the
    /// batch's) is [`StoreError::Corrupt`].
    pub(crate) fn decode(&self, row: &PgRow) -> Result<Outcome, StoreError> {
        let stream_id = &*self.stream_id;
        let before = to_u64(get(row, 0)?, "version", stream_id)?;
        let Some(positions) = get::<Option<Vec<i64>>>(row, 1)? else {
            return Ok(Outcome::Rejected { actual: before });
        };
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!(
                "the append to `{stream_id}` returned positions but no {what}"
            ))
        };
        let recorded_at = get::<Option<chrono::DateTime<chrono::Utc>>>(row, 2)?
            .ok_or_else(|| corrupt("recorded_at"))?;
        let payloads = get::<Option<Vec<String>>>(row, 3)?.ok_or_else(|| corrupt("payloads"))?;
        if positions.len() != self.events.len() || payloads.len() != self.events.len() {
            return Err(StoreError::Corrupt(format!(
                "the append to `{stream_id}` returned {} positions and {} payloads for {} events",
                positions.len(),
                payloads.len(),
                self.events.len()
            )));
        }
        // One `Arc` per run of events of the same type, not one per event.
        let mut event_type: Option<Arc<str>> = None;
        let recorded = self
            .events
            .iter()
            .zip(positions.into_iter().zip(payloads))
            .enumerate()
            .map(|(offset, (event, (position, payload)))| {
                let event_type = match &event_type {
                    Some(same) if **same == *event.event_type => same.clone(),
                    _ => event_type
                        .insert(Arc::from(event.event_type.as_str()))
                        .clone(),
                };
                Ok(RecordedEvent {
                    event_id: event.event_id,
                    stream_id: self.stream_id.clone(),
                    stream_version: before + offset as u64 + 1,
                    position: to_u64(position, "position", stream_id)?,
                    recorded_at,
                    event_type,
                    event_version: event.event_version,
                    payload: JsonPayload::from_trusted_json(payload),
                    metadata: self.metadata.clone(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Outcome::Appended(AppendResult {
            current_version: before + recorded.len() as u64,
            events: recorded,
            deduplicated: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(expected: ExpectedVersion, event_version: u32) -> Result<Batch, StoreError> {
        let event = NewEvent::raw("Happened", event_version, JsonPayload::parse("{}").unwrap());
        Batch::prepare(
            "Order-1",
            expected,
            vec![event],
            &Metadata::default(),
            &StoreLimits::default(),
        )
    }

    /// The SQL range check accepts exactly the versions `ExpectedVersion::accepts` does.
    #[test]
    fn the_accepted_range_is_the_expected_versions_rule() {
        let expectations = [
            ExpectedVersion::Any,
            ExpectedVersion::NoStream,
            ExpectedVersion::StreamExists,
            ExpectedVersion::Exact(0),
            ExpectedVersion::Exact(1),
            ExpectedVersion::Exact(7),
        ];
        for expected in expectations {
            let (lowest, highest) = batch(expected, 1).unwrap().accepted_versions();
            for version in [0u64, 1, 2, 6, 7, 8, i64::MAX as u64] {
                let in_range = (lowest..=highest).contains(&(version as i64));
                assert_eq!(
                    in_range,
                    expected.accepts(version),
                    "{expected:?} at version {version}"
                );
            }
        }
    }

    #[test]
    fn a_schema_version_beyond_the_integer_column_is_refused() {
        assert!(batch(ExpectedVersion::Any, i32::MAX as u32).is_ok());
        let refused = batch(ExpectedVersion::Any, i32::MAX as u32 + 1).unwrap_err();
        assert!(
            matches!(&refused, StoreError::InvalidInput { reason, .. } if reason.contains("schema version")),
            "{refused:?}"
        );
    }
}
