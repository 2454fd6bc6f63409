//! Input validation shared by every store, applied before anything is written: the limits,
//! NUL characters, and event ids repeated within a batch.

use std::collections::BTreeMap;

use super::idempotency::refuse_repeated_ids;
use crate::envelope::{stream_category, Metadata};
use crate::error::StoreError;
use crate::event::NewEvent;

/// What one metadata header costs besides its key and value, in
/// [`StoreLimits::max_metadata_bytes`]: room for its framing wherever it is carried (the
/// `meta-` prefix and two varint lengths of a Kafka header).
pub const METADATA_HEADER_OVERHEAD_BYTES: usize = 16;

/// Limits every store enforces on appended input.
///
/// A stream category published by a relay can get a lower payload limit than the global
/// one, so the store refuses (with [`StoreError::InvalidInput`]) what the broker would
/// refuse later, when the command that wrote it is long gone:
///
/// ```
/// use cqrs_core::StoreLimits;
///
/// // `Order-*` streams are relayed to Kafka: at most what the producer accepts.
/// let limits = StoreLimits::default().with_category_max_payload("Order", 990_000);
/// assert_eq!(limits.max_payload_for("Order-42"), 990_000);
/// assert_eq!(limits.max_payload_for("Invoice-7"), 8 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLimits {
    /// Largest accepted payload, in bytes of JSON text. Default 8 MiB.
    pub max_payload_bytes: usize,
    /// Largest accepted stream id, in bytes. Default 512.
    pub max_stream_id_bytes: usize,
    /// Most events in one append. Default 10,000.
    pub max_batch_len: usize,
    /// Longest event type name, in bytes. Default 256.
    pub max_event_type_bytes: usize,
    /// Most bytes of free-form metadata headers per append: keys and values, plus
    /// [`METADATA_HEADER_OVERHEAD_BYTES`] per header for its framing (a relay publishes
    /// each as a Kafka header `meta-<key>`). Default 16 KiB.
    pub max_metadata_bytes: usize,
    /// Payload limits per stream category (the part of the stream id before the first
    /// `-`, see [`stream_category`]). A category's limit applies instead of
    /// `max_payload_bytes` only when it is lower. Default: none.
    pub category_max_payload_bytes: BTreeMap<String, usize>,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 8 * 1024 * 1024,
            max_stream_id_bytes: 512,
            max_batch_len: 10_000,
            max_event_type_bytes: 256,
            max_metadata_bytes: 16 * 1024,
            category_max_payload_bytes: BTreeMap::new(),
        }
    }
}

impl StoreLimits {
    /// Limits payloads of streams of `category` (e.g. `"Order"` for `Order-42`) to
    /// `max_bytes`, for instance what the Kafka producer of the relay publishing them
    /// accepts. A limit above [`max_payload_bytes`](Self::max_payload_bytes) has no effect.
    pub fn with_category_max_payload(
        mut self,
        category: impl Into<String>,
        max_bytes: usize,
    ) -> Self {
        self.category_max_payload_bytes
            .insert(category.into(), max_bytes);
        self
    }

    /// The largest payload accepted in stream `stream_id`: the lower of the global limit
    /// and its category's limit.
    pub fn max_payload_for(&self, stream_id: &str) -> usize {
        self.category_max_payload_bytes
            .get(stream_category(stream_id))
            .map_or(self.max_payload_bytes, |&category| {
                category.min(self.max_payload_bytes)
            })
    }
}

/// Checks a batch before anything is written; every store calls it first.
///
/// Refuses, with a typed [`StoreError::InvalidInput`] naming the stream and the offending
/// event: an empty stream id or one with a NUL character, empty event types, NUL
/// characters in payloads or metadata, and sizes over `limits`. Refuses an event id that
/// appears twice in the batch with [`StoreError::DuplicateEventId`] (`twice within the
/// same batch`; rule 1 of [`idempotency`](super::idempotency)). Walks each payload once;
/// allocates nothing for a valid batch of up to 16 events.
///
/// ```
/// use cqrs_core::store::validate_append;
/// use cqrs_core::{JsonPayload, Metadata, NewEvent, StoreError, StoreLimits};
///
/// let event = NewEvent::raw("Placed", 1, JsonPayload::parse("{}").unwrap());
/// let limits = StoreLimits::default();
/// assert!(validate_append("Order-1", &[event.clone()], &Metadata::default(), &limits).is_ok());
/// let twice = validate_append("Order-1", &[event.clone(), event], &Metadata::default(), &limits);
/// assert!(matches!(twice, Err(StoreError::DuplicateEventId { .. })));
/// ```
pub fn validate_append(
    stream_id: &str,
    events: &[NewEvent],
    metadata: &Metadata,
    limits: &StoreLimits,
) -> Result<(), StoreError> {
    let invalid = |reason: String| {
        tracing::warn!(stream = stream_id, %reason, "append rejected");
        Err(StoreError::InvalidInput {
            stream: stream_id.to_owned(),
            reason,
        })
    };
    if stream_id.is_empty() {
        return invalid("the stream id is empty".into());
    }
    if stream_id.len() > limits.max_stream_id_bytes {
        return invalid(format!(
            "the stream id is {} bytes, more than the limit of {}",
            stream_id.len(),
            limits.max_stream_id_bytes
        ));
    }
    if stream_id.contains('\0') {
        return invalid("the stream id contains a NUL character".into());
    }
    if events.len() > limits.max_batch_len {
        return invalid(format!(
            "the batch has {} events, more than the limit of {}",
            events.len(),
            limits.max_batch_len
        ));
    }
    let mut metadata_bytes = 0;
    for (key, value) in &metadata.headers {
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            return invalid(format!(
                "the metadata header `{}` is empty or contains a NUL character",
                key.escape_debug()
            ));
        }
        metadata_bytes += key.len() + value.len() + METADATA_HEADER_OVERHEAD_BYTES;
    }
    if metadata_bytes > limits.max_metadata_bytes {
        return invalid(format!(
            "the metadata headers are {metadata_bytes} bytes, more than the limit of {}",
            limits.max_metadata_bytes
        ));
    }
    let max_payload_bytes = limits.max_payload_for(stream_id);
    for (index, event) in events.iter().enumerate() {
        if event.event_type.is_empty() || event.event_type.contains('\0') {
            return invalid(format!(
                "event #{index} ({}) has an invalid type name",
                event.event_id
            ));
        }
        if event.event_type.len() > limits.max_event_type_bytes {
            return invalid(format!(
                "event #{index} ({}) has a type name of {} bytes, more than the limit of {}",
                event.event_id,
                event.event_type.len(),
                limits.max_event_type_bytes
            ));
        }
        if event.payload.len() > max_payload_bytes {
            return invalid(format!(
                "event #{index} ({} `{}`) has a payload of {} bytes, more than the limit of {} \
                 for stream `{stream_id}`",
                event.event_id,
                event.event_type,
                event.payload.len(),
                max_payload_bytes
            ));
        }
        if has_escaped_nul(event.payload.as_str()) {
            return invalid(format!(
                "event #{index} ({} `{}`) contains a NUL character, which JSON stores reject",
                event.event_id, event.event_type
            ));
        }
    }
    refuse_repeated_ids(stream_id, events)
}

/// True when the JSON text holds an escaped NUL character (`\u0000`). A `u0000` after an
/// escaped backslash (`\\u0000`, the text `\u0000`) is ordinary text: the escape starts at
/// a backslash preceded by an even number of backslashes.
fn has_escaped_nul(json: &str) -> bool {
    json.match_indices("\\u0000").any(|(at, _)| {
        let preceding = json[..at].bytes().rev().take_while(|&b| b == b'\\').count();
        preceding % 2 == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonPayload;

    fn events(n: usize) -> Vec<NewEvent> {
        (0..n)
            .map(|_| NewEvent::raw("Happened", 1, JsonPayload::parse("{}").expect("json")))
            .collect()
    }

    fn reason(result: Result<(), StoreError>) -> String {
        match result {
            Err(StoreError::InvalidInput { reason, .. }) => reason,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn every_limit_is_enforced_and_named() {
        let limits = StoreLimits {
            max_payload_bytes: 10,
            max_stream_id_bytes: 8,
            max_batch_len: 3,
            ..StoreLimits::default()
        };
        assert!(validate_append("Order-1", &events(3), &Metadata::default(), &limits).is_ok());
        assert!(reason(validate_append(
            "Order-123",
            &events(1),
            &Metadata::default(),
            &limits
        ))
        .contains("stream id is 9 bytes"));
        assert!(reason(validate_append(
            "Order-1",
            &events(4),
            &Metadata::default(),
            &limits
        ))
        .contains("4 events"));
        assert!(reason(validate_append(
            "",
            &events(1),
            &Metadata::default(),
            &limits
        ))
        .contains("empty"));
        assert!(reason(validate_append(
            "a\0b",
            &events(1),
            &Metadata::default(),
            &limits
        ))
        .contains("NUL"));
        let big = NewEvent::raw(
            "Happened",
            1,
            JsonPayload::parse(r#"{"a":"0123456789"}"#).expect("json"),
        );
        assert!(reason(validate_append(
            "Order-1",
            &[big],
            &Metadata::default(),
            &limits
        ))
        .contains("payload of 18 bytes"));
        let untyped = NewEvent::raw("", 1, JsonPayload::parse("{}").expect("json"));
        assert!(reason(validate_append(
            "Order-1",
            &[untyped],
            &Metadata::default(),
            &limits
        ))
        .contains("invalid type name"));
    }

    #[test]
    fn only_a_real_nul_escape_is_refused() {
        let limits = StoreLimits::default();
        let with = |json: &str| {
            let event = NewEvent::raw("Happened", 1, JsonPayload::parse(json).expect("json"));
            validate_append("Order-1", &[event], &Metadata::default(), &limits)
        };
        // The text `\u0000` (an escaped backslash, then `u0000`) holds no NUL.
        assert!(with(r#"{"path":"C:\\u0000"}"#).is_ok());
        assert!(with(r#"{"a":"\\\\u0000"}"#).is_ok());
        assert!(reason(with(r#"{"a":"\u0000"}"#)).contains("NUL"));
        assert!(
            with(r#"{"a":"\\\u0000"}"#).is_err(),
            "a backslash, then a NUL"
        );
        assert!(with(r#"{"a\u0000":1}"#).is_err(), "in a key");
    }

    /// A payload of exactly `len` bytes of JSON text.
    fn payload_of(len: usize) -> NewEvent {
        let text = format!(r#""{}""#, "x".repeat(len - 2));
        NewEvent::raw("Happened", 1, JsonPayload::parse(text).expect("json"))
    }

    #[test]
    fn a_category_limit_applies_to_its_streams_only() {
        let limits = StoreLimits::default().with_category_max_payload("Order", 1_000);
        let over = validate_append(
            "Order-42",
            &[payload_of(1_001)],
            &Metadata::default(),
            &limits,
        );
        match over {
            Err(StoreError::InvalidInput { stream, reason }) => {
                assert_eq!(stream, "Order-42");
                assert!(reason.contains("1001 bytes"), "{reason}");
                assert!(reason.contains("limit of 1000"), "{reason}");
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert!(validate_append(
            "Order-42",
            &[payload_of(1_000)],
            &Metadata::default(),
            &limits
        )
        .is_ok());
        assert!(validate_append(
            "Order-42",
            &[payload_of(999)],
            &Metadata::default(),
            &limits
        )
        .is_ok());
        // Another category, and a stream id that only starts like the category, keep the
        // global limit.
        assert!(validate_append(
            "Invoice-1",
            &[payload_of(100_000)],
            &Metadata::default(),
            &limits
        )
        .is_ok());
        assert!(validate_append(
            "Orders-1",
            &[payload_of(100_000)],
            &Metadata::default(),
            &limits
        )
        .is_ok());
        assert!(
            validate_append("Order", &[payload_of(1_001)], &Metadata::default(), &limits).is_err()
        );
    }

    #[test]
    fn a_category_limit_never_raises_the_global_one() {
        let limits = StoreLimits {
            max_payload_bytes: 500,
            ..StoreLimits::default()
        }
        .with_category_max_payload("Order", 10_000);
        assert_eq!(limits.max_payload_for("Order-1"), 500);
        assert!(
            validate_append("Order-1", &[payload_of(501)], &Metadata::default(), &limits).is_err()
        );
    }

    #[test]
    fn metadata_over_its_limit_a_nul_in_a_header_and_a_long_type_name_are_refused() {
        let limits = StoreLimits {
            max_metadata_bytes: 100,
            max_event_type_bytes: 8,
            ..StoreLimits::default()
        };
        let fits = Metadata::default().with_header("tenant", "t".repeat(100 - 6 - 16));
        assert!(validate_append("Order-1", &events(1), &fits, &limits).is_ok());
        let over = Metadata::default().with_header("tenant", "t".repeat(100 - 6 - 16 + 1));
        assert!(
            reason(validate_append("Order-1", &events(1), &over, &limits))
                .contains("metadata headers are 101 bytes")
        );
        // Many small headers pay for their framing.
        let many = (0..10).fold(Metadata::default(), |m, i| {
            m.with_header(format!("k{i}"), "")
        });
        assert!(validate_append("Order-1", &events(1), &many, &limits).is_err());
        let nul = Metadata::default().with_header("user", "a\0b");
        assert!(reason(validate_append("Order-1", &events(1), &nul, &limits)).contains("NUL"));
        let long = NewEvent::raw("LongerThan8", 1, JsonPayload::parse("{}").unwrap());
        assert!(reason(validate_append(
            "Order-1",
            &[long],
            &Metadata::default(),
            &limits
        ))
        .contains("type name of 11 bytes"));
    }
}
