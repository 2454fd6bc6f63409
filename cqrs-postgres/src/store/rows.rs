//! Decoding result rows into [`RecordedEvent`]s, without trusting the data blindly.
//!
//! Columns are read by index in the order of the `.sql` files. Values that cannot come from
//! this store's writes (negative positions, undecodable metadata) are reported as
//! [`StoreError::Corrupt`], never unwrapped. Consecutive rows usually share metadata (one
//! append), type and stream, so the decoder reuses the previous row's shared values.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_core::{JsonPayload, Metadata, RecordedEvent, StoreError, StreamEventRef};
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{Column, Postgres, Row, TypeInfo, ValueRef};
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

/// Reads `load_stream.sql` rows (event_type, NULLIF(event_version, 1), payload) as
/// [`StreamEventRef`]s borrowed from the row: no allocation, and the values are read from
/// their wire bytes. The column types are checked once, on the first row, so a changed
/// query or schema is a typed error, not a misread.
#[derive(Default)]
pub(crate) struct LeanRowReader {
    columns_checked: bool,
}

impl LeanRowReader {
    /// The event in `row`, which is version `stream_version` of `stream_id`.
    pub(crate) fn read<'r>(
        &mut self,
        row: &'r PgRow,
        stream_id: &'r str,
        stream_version: u64,
    ) -> Result<StreamEventRef<'r>, StoreError> {
        if !self.columns_checked {
            check_lean_columns(row)?;
            self.columns_checked = true;
        }
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!(
                "{what} in event {stream_version} of stream `{stream_id}`"
            ))
        };
        let event_type = column_bytes(row, 0)?.ok_or_else(|| corrupt("NULL event_type"))?;
        let event_type =
            std::str::from_utf8(event_type).map_err(|_| corrupt("non-UTF-8 event_type"))?;
        let event_version = match column_bytes(row, 1)? {
            None => 1,
            Some(bytes) => {
                let bytes: [u8; 4] = bytes
                    .try_into()
                    .map_err(|_| corrupt("malformed event_version"))?;
                u32::try_from(i32::from_be_bytes(bytes))
                    .map_err(|_| corrupt("negative event_version"))?
            }
        };
        // jsonb in the binary protocol: a format version byte (1), then the JSON text.
        let payload = match column_bytes(row, 2)?.ok_or_else(|| corrupt("NULL payload"))? {
            [1, text @ ..] => {
                std::str::from_utf8(text).map_err(|_| corrupt("non-UTF-8 payload"))?
            }
            _ => return Err(corrupt("unknown jsonb wire format of the payload")),
        };
        Ok(StreamEventRef {
            stream_id,
            stream_version,
            event_type,
            event_version,
            payload,
        })
    }
}

/// The raw bytes of column `index` (`None` for NULL).
fn column_bytes(row: &PgRow, index: usize) -> Result<Option<&[u8]>, StoreError> {
    let value = row.try_get_raw(index).map_err(|e| map_sqlx("decode", e))?;
    if value.is_null() {
        return Ok(None);
    }
    value.as_bytes().map(Some).map_err(|e| {
        StoreError::Corrupt(format!("column {index} of a stream row is unreadable: {e}"))
    })
}

/// The lean read's columns are text, integer and jsonb, in the binary format.
fn check_lean_columns(row: &PgRow) -> Result<(), StoreError> {
    let expected = [
        <&str as sqlx::Type<Postgres>>::type_info(),
        <i32 as sqlx::Type<Postgres>>::type_info(),
        <sqlx::types::JsonValue as sqlx::Type<Postgres>>::type_info(),
    ];
    let columns = row.columns();
    let matches = columns.len() == expected.len()
        && columns
            .iter()
            .zip(&expected)
            .all(|(column, expected)| column.type_info() == expected);
    let binary = (0..columns.len()).all(|index| {
        row.try_get_raw(index)
            .is_ok_and(|value| value.format() == PgValueFormat::Binary)
    });
    if matches && binary {
        Ok(())
    } else {
        let found: Vec<String> = columns
            .iter()
            .map(|c| c.type_info().name().to_owned())
            .collect();
        Err(StoreError::Corrupt(format!(
            "the stream load returned columns ({}) instead of (TEXT, INT4, JSONB) in the binary format",
            found.join(", ")
        )))
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
