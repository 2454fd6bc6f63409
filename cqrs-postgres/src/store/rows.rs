//! Decoding result rows into [`RecordedEvent`]s, without trusting the data blindly.
//!
//! Columns are read by index in the order of the `.sql` files. Values that cannot come from
//! this store's writes (negative positions, undecodable metadata) are reported as
//! [`StoreError::Corrupt`], never unwrapped. Consecutive rows usually share metadata (one
//! append), type and stream, so the decoder reuses the previous row's shared values.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_core::{JsonPayload, Metadata, RecordedEvent, StoreError, StreamEvent};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use crate::error::map_sqlx;

/// Turns rows into events, sharing repeated values between consecutive rows.
#[derive(Default)]
pub(crate) struct EventDecoder {
    stream_id: Option<Arc<str>>,
    event_type: Option<Arc<str>>,
    metadata: Option<(String, Arc<Metadata>)>,
}

impl EventDecoder {
    /// A decoder for rows of one known stream (the rows carry no stream id column).
    pub(crate) fn for_stream(stream_id: &str) -> Self {
        Self {
            stream_id: Some(Arc::from(stream_id)),
            ..Self::default()
        }
    }

    /// Decodes a row of `read_all.sql` / `find_by_ids.sql`: position, stream_id,
    /// stream_version, event_id, event_type, event_version, payload, metadata, recorded_at.
    pub(crate) fn decode_full(&mut self, row: &PgRow) -> Result<RecordedEvent, StoreError> {
        let stream_id: &str = get(row, 1)?;
        let stream_id = match &self.stream_id {
            Some(shared) if &**shared == stream_id => shared.clone(),
            _ => {
                let fresh: Arc<str> = Arc::from(stream_id);
                self.stream_id = Some(fresh.clone());
                fresh
            }
        };
        self.decode_rest(row, 0, stream_id, 2)
    }

    /// Decodes a row of `read_stream.sql`: position, stream_version, event_id, event_type,
    /// event_version, payload, metadata, recorded_at.
    pub(crate) fn decode_in_stream(&mut self, row: &PgRow) -> Result<RecordedEvent, StoreError> {
        let stream_id = self
            .stream_id
            .clone()
            .ok_or_else(|| StoreError::Corrupt("stream row decoded without a stream".into()))?;
        self.decode_rest(row, 0, stream_id, 1)
    }

    /// `position` is at `pos`, and the columns from stream_version on start at `from`.
    fn decode_rest(
        &mut self,
        row: &PgRow,
        pos: usize,
        stream_id: Arc<str>,
        from: usize,
    ) -> Result<RecordedEvent, StoreError> {
        let position = to_u64(get::<i64>(row, pos)?, "position", &stream_id)?;
        let stream_version = to_u64(get::<i64>(row, from)?, "stream_version", &stream_id)?;
        let event_id: Uuid = get(row, from + 1)?;
        let event_type: &str = get(row, from + 2)?;
        let event_version = get::<i32>(row, from + 3)?;
        let payload = json_text(row, from + 4)?;
        let metadata: &str = get(row, from + 5)?;
        let recorded_at: DateTime<Utc> = get(row, from + 6)?;

        let event_type = match &self.event_type {
            Some(shared) if &**shared == event_type => shared.clone(),
            _ => {
                let fresh: Arc<str> = Arc::from(event_type);
                self.event_type = Some(fresh.clone());
                fresh
            }
        };
        let metadata = match &self.metadata {
            Some((text, shared)) if text == metadata => shared.clone(),
            _ => {
                let parsed: Metadata = serde_json::from_str(metadata).map_err(|e| {
                    StoreError::Corrupt(format!(
                        "metadata of event {event_id} at position {position} (stream `{stream_id}`) does not decode: {e}"
                    ))
                })?;
                let shared = Arc::new(parsed);
                self.metadata = Some((metadata.to_owned(), shared.clone()));
                shared
            }
        };
        let event_version = u32::try_from(event_version).map_err(|_| {
            StoreError::Corrupt(format!(
                "event {event_id} at position {position} (stream `{stream_id}`) has negative schema version {event_version}"
            ))
        })?;
        Ok(RecordedEvent {
            event_id,
            stream_id,
            stream_version,
            position,
            recorded_at,
            event_type,
            event_version,
            payload: JsonPayload::from_trusted_json(payload),
            metadata,
        })
    }
}

/// Most distinct event types [`StreamEventDecoder`] shares; later ones are allocated per
/// row (an aggregate has a handful of event types).
const INTERNED_TYPES: usize = 32;

/// Turns `load_stream.sql` rows into [`StreamEvent`]s of one stream: one allocation per
/// row (the payload), the stream id shared by all rows and event types interned per call.
pub(crate) struct StreamEventDecoder {
    stream_id: Arc<str>,
    /// Event types seen, the most recent last.
    types: Vec<Arc<str>>,
}

impl StreamEventDecoder {
    /// A decoder for rows of `stream_id`.
    pub(crate) fn new(stream_id: &str) -> Self {
        Self {
            stream_id: Arc::from(stream_id),
            types: Vec::new(),
        }
    }

    /// Decodes a row: stream_version, position, event_type, event_version, payload.
    pub(crate) fn decode(&mut self, row: &PgRow) -> Result<StreamEvent, StoreError> {
        let stream_version = to_u64(get::<i64>(row, 0)?, "stream_version", &self.stream_id)?;
        let position = to_u64(get::<i64>(row, 1)?, "position", &self.stream_id)?;
        let event_type = self.intern(get(row, 2)?);
        let event_version = get::<i32>(row, 3)?;
        let event_version = u32::try_from(event_version).map_err(|_| {
            StoreError::Corrupt(format!(
                "event at position {position} (stream `{}` version {stream_version}) has negative schema version {event_version}",
                self.stream_id
            ))
        })?;
        Ok(StreamEvent {
            stream_id: self.stream_id.clone(),
            stream_version,
            position,
            event_type,
            event_version,
            payload: JsonPayload::from_trusted_json(json_text(row, 4)?),
        })
    }

    /// The shared `Arc` of `event_type`: the last one used when it repeats (the common
    /// case), else one seen before in this call, else a new one.
    fn intern(&mut self, event_type: &str) -> Arc<str> {
        if let Some(last) = self.types.last() {
            if **last == *event_type {
                return last.clone();
            }
        }
        if let Some(index) = self.types.iter().position(|t| **t == *event_type) {
            let seen = self.types.remove(index);
            self.types.push(seen.clone());
            return seen;
        }
        let fresh: Arc<str> = Arc::from(event_type);
        if self.types.len() == INTERNED_TYPES {
            self.types.remove(0);
        }
        self.types.push(fresh.clone());
        fresh
    }
}

/// Column `index` of `row`, a decoding failure being a backend error.
pub(crate) fn get<'r, T>(row: &'r PgRow, index: usize) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(index).map_err(|e| map_sqlx("decode", e))
}

/// The text of a `jsonb` column, read in the binary protocol (one version byte and the
/// text): cheaper for the server than a `::text` cast, and borrowed, not copied.
pub(crate) fn json_text(row: &PgRow, index: usize) -> Result<&str, StoreError> {
    let raw: sqlx::types::Json<&serde_json::value::RawValue> = get(row, index)?;
    Ok(raw.0.get())
}

/// A stored bigint that must be positive.
pub(crate) fn to_u64(value: i64, column: &str, stream_id: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::Corrupt(format!("negative {column} {value} in stream `{stream_id}`"))
    })
}

/// A caller's position or version as a bigint (values beyond `i64::MAX` cannot be stored,
/// so they are clamped: a read from there finds nothing).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
