//! What a store keeps about commands, so a command id repeated by a client has one effect:
//! the ids of the events a command appends are derived from its id, and a refused command
//! leaves a [`RecordedRefusal`].
//!
//! # For store implementers
//! - [`EventStore::read_events_by_id`](super::EventStore::read_events_by_id) finds stored
//!   events by id (one indexed lookup; the store already has a unique index on event ids).
//! - [`EventStore::record_refusal`](super::EventStore::record_refusal) inserts a refusal
//!   keyed by its command id **if none is recorded**, and returns the recorded one: when two
//!   executions of one command id race, the first refusal stored wins and both report it.
//! - [`EventStore::load_refusal`](super::EventStore::load_refusal) reads it back.
//!
//! The rules that use them (look before deciding; acceptance wins over a refusal) live in
//! the command pipeline, written once; the store contract checks both halves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The longest refusal message a store keeps, in bytes; the pipeline cuts longer ones at a
/// character boundary.
pub const MAX_REFUSAL_MESSAGE_BYTES: usize = 2_000;

/// The longest refusal code, in bytes.
pub const MAX_REFUSAL_CODE_BYTES: usize = 100;

/// The outcome of a refused command, as the store keeps it: what a repeat of the command id
/// reports instead of deciding again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRefusal {
    /// The refused command's id.
    pub command_id: Uuid,
    /// The stream the command was addressed to.
    pub stream_id: String,
    /// The stream's version when the command was refused (0: the stream did not exist).
    pub stream_version: u64,
    /// The refusal's stable code (see [`Aggregate::refusal_code`](crate::Aggregate::refusal_code)).
    pub code: String,
    /// The domain error's message.
    pub message: String,
    /// When the refusal was recorded, UTC.
    pub recorded_at: DateTime<Utc>,
}

impl RecordedRefusal {
    /// A refusal of `command_id` on `stream_id` at `stream_version`, recorded now; `code`
    /// and `message` are cut to [`MAX_REFUSAL_CODE_BYTES`] and [`MAX_REFUSAL_MESSAGE_BYTES`].
    pub fn new(
        command_id: Uuid,
        stream_id: impl Into<String>,
        stream_version: u64,
        code: &str,
        message: &str,
    ) -> Self {
        Self {
            command_id,
            stream_id: stream_id.into(),
            stream_version,
            code: cut(code, MAX_REFUSAL_CODE_BYTES).to_owned(),
            message: cut(message, MAX_REFUSAL_MESSAGE_BYTES).to_owned(),
            // Milliseconds: what every store (MongoDB keeps no finer) round-trips.
            recorded_at: truncate_to_millis(Utc::now()),
        }
    }
}

/// The id of the `index`-th event (from 0) a command appends: a name-based UUID (v5) of
/// the command id, so a command that is executed again, after a lost reply or a crash,
/// appends the same ids and the store recognises the batch.
///
/// ```
/// use cqrs_core::store::command_event_id;
/// let command = uuid::Uuid::now_v7();
/// assert_eq!(command_event_id(command, 0), command_event_id(command, 0));
/// assert_ne!(command_event_id(command, 0), command_event_id(command, 1));
/// ```
pub fn command_event_id(command_id: Uuid, index: usize) -> Uuid {
    Uuid::new_v5(&command_id, &(index as u64).to_be_bytes())
}

/// A refusal's code and message cut as [`RecordedRefusal::new`] cuts them.
pub(crate) fn cut_code_and_message(code: &str, message: &str) -> (String, String) {
    (
        cut(code, MAX_REFUSAL_CODE_BYTES).to_owned(),
        cut(message, MAX_REFUSAL_MESSAGE_BYTES).to_owned(),
    )
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_codes_and_messages_are_cut_at_a_character_boundary() {
        let message = "é".repeat(MAX_REFUSAL_MESSAGE_BYTES);
        let refusal = RecordedRefusal::new(Uuid::now_v7(), "S-1", 0, &"c".repeat(500), &message);
        assert_eq!(refusal.code.len(), MAX_REFUSAL_CODE_BYTES);
        assert_eq!(refusal.message.len(), MAX_REFUSAL_MESSAGE_BYTES);
        assert!(refusal.message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn event_ids_differ_per_command_and_index() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(command_event_id(a, 0), command_event_id(b, 0));
        assert_eq!(command_event_id(a, 3), command_event_id(a, 3));
    }
}
