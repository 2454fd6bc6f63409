//! Reply messages: a [`CommandReply`] as a Kafka record (JSON value, key = command id,
//! headers [`COMMAND_ID`](super::headers::COMMAND_ID),
//! [`CORRELATION_ID`](super::headers::CORRELATION_ID), [`OUTCOME`](super::headers::OUTCOME)).

use cqrs_core::CommandReply;
use rdkafka::message::{Header, OwnedHeaders};

use super::headers;

/// The value and headers of `reply`.
pub(crate) fn encode(reply: &CommandReply) -> Result<(Vec<u8>, OwnedHeaders), serde_json::Error> {
    let value = serde_json::to_vec(reply)?;
    let (command_id, correlation_id) = (
        reply.command_id.to_string(),
        reply.correlation_id.to_string(),
    );
    let mut out = OwnedHeaders::new_with_capacity(3);
    for (key, value) in [
        (headers::COMMAND_ID, command_id.as_str()),
        (headers::CORRELATION_ID, correlation_id.as_str()),
        (headers::OUTCOME, reply.outcome.name()),
    ] {
        out = out.insert(Header {
            key,
            value: Some(value),
        });
    }
    Ok((value, out))
}
