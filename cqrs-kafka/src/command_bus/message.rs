//! Command messages: a [`CommandEnvelope`] as a Kafka record (JSON value, key = aggregate
//! id, [`headers`](super::headers)), and back.
//!
//! Decoding ([`CommandDecoder`]) trusts the value only. A value that is no envelope is
//! still answered when its headers carry a command id and a reply topic (then the handler
//! replies `Invalid` / `undecodable_envelope` and dead-letters it); otherwise it is a
//! [`MessageDecodeError`] and goes to the dead-letter topic unanswered (stage `decode`).

use std::str::FromStr;

use cqrs_core::{CommandEnvelope, InvalidCommand};
use rdkafka::message::{Header, OwnedHeaders};
use tracing::Span;
use uuid::Uuid;

use super::headers;
use crate::consumer::Described;
use crate::{trace_headers, Decoder, IncomingMessage, MessageDecodeError};

/// The Kafka headers of `envelope`: its ids, routing and reply-to, the trace context of
/// `span` (the sender's `command send`) when it is recorded, then the envelope's own
/// headers under their own names, except those named like one of ours
/// ([`headers::RESERVED`]), which stay in the value only, and its trace context when the
/// span's replaced it.
pub(crate) fn envelope_headers(envelope: &CommandEnvelope, span: &Span) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(8 + envelope.headers.len());
    let mut add = |key: &str, value: &str| {
        out = std::mem::take(&mut out).insert(Header {
            key,
            value: Some(value),
        });
    };
    add(headers::COMMAND_ID, &envelope.command_id.to_string());
    add(
        headers::CORRELATION_ID,
        &envelope.correlation_id.to_string(),
    );
    if let Some(causation) = envelope.causation_id {
        add(headers::CAUSATION_ID, &causation.to_string());
    }
    add(headers::AGGREGATE_TYPE, &envelope.aggregate_type);
    add(headers::COMMAND_TYPE, &envelope.command_type);
    add(
        headers::COMMAND_VERSION,
        &envelope.command_version.to_string(),
    );
    if let Some(reply_to) = &envelope.reply_to {
        add(headers::REPLY_TO, reply_to);
    }
    if let Some(deadline) = envelope.deadline {
        add(
            headers::DEADLINE,
            &deadline.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        );
    }
    let traced = trace_headers::inject(span, &mut out);
    for (key, value) in &envelope.headers {
        let replaced = traced && trace_headers::is_trace_header(key);
        if !replaced && !headers::RESERVED.contains(&key.as_str()) {
            out = out.insert(Header {
                key,
                value: Some(value),
            });
        }
    }
    out
}

/// Where to answer a command, read from the envelope or, for a message that is no
/// envelope, from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplyAddress {
    pub(crate) command_id: Uuid,
    pub(crate) correlation_id: Uuid,
    pub(crate) reply_to: String,
}

/// A consumed command message.
#[derive(Debug)]
pub(crate) enum CommandMessage {
    /// A command envelope.
    Envelope(CommandEnvelope),
    /// No envelope, but its headers say which command it was and where to answer.
    Undecodable { reply: ReplyAddress, reason: String },
}

impl CommandMessage {
    /// Where the reply goes, if anywhere.
    pub(crate) fn reply_address(&self) -> Option<ReplyAddress> {
        match self {
            CommandMessage::Envelope(envelope) => {
                envelope.reply_to.as_ref().map(|reply_to| ReplyAddress {
                    command_id: envelope.command_id,
                    correlation_id: envelope.correlation_id,
                    reply_to: reply_to.clone(),
                })
            }
            CommandMessage::Undecodable { reply, .. } => Some(reply.clone()),
        }
    }
}

impl Described for CommandMessage {
    fn described(&self) -> String {
        match self {
            CommandMessage::Envelope(envelope) => format!(
                "command {} (`{}` for `{}-{}`)",
                envelope.command_id,
                envelope.command_type,
                envelope.aggregate_type,
                envelope.aggregate_id
            ),
            CommandMessage::Undecodable { reply, reason } => format!(
                "command {} ({}: {reason})",
                reply.command_id,
                InvalidCommand::UndecodableEnvelope
            ),
        }
    }
}

/// Decodes command messages (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommandDecoder;

impl Decoder<CommandMessage> for CommandDecoder {
    fn decode(&self, message: &IncomingMessage<'_>) -> Result<CommandMessage, MessageDecodeError> {
        let at = || message.source().to_string();
        let error = match message.payload().filter(|value| !value.is_empty()) {
            None => MessageDecodeError::EmptyPayload { at: at() },
            Some(value) => match serde_json::from_slice::<CommandEnvelope>(value) {
                Ok(envelope) => return Ok(CommandMessage::Envelope(envelope)),
                Err(error) => MessageDecodeError::InvalidPayload {
                    at: at(),
                    reason: format!("no command envelope: {error}"),
                },
            },
        };
        match address_from_headers(message) {
            Some(reply) => Ok(CommandMessage::Undecodable {
                reply,
                reason: error.to_string(),
            }),
            None => Err(error),
        }
    }
}

/// The command id, correlation id and reply topic of `message`'s headers, when there is a
/// valid command id and a reply topic.
fn address_from_headers(message: &IncomingMessage<'_>) -> Option<ReplyAddress> {
    let text = |name| {
        message
            .header(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    };
    let command_id = Uuid::from_str(text(headers::COMMAND_ID)?).ok()?;
    let reply_to = text(headers::REPLY_TO).filter(|topic| !topic.is_empty())?;
    let correlation_id = text(headers::CORRELATION_ID)
        .and_then(|id| Uuid::from_str(id).ok())
        .unwrap_or(command_id);
    Some(ReplyAddress {
        command_id,
        correlation_id,
        reply_to: reply_to.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageSource;
    use rdkafka::message::Headers;

    const SOURCE: MessageSource<'static> = MessageSource {
        topic: "Account.commands",
        partition: 0,
        offset: 7,
    };

    fn envelope() -> CommandEnvelope {
        CommandEnvelope {
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            aggregate_type: "Account".into(),
            aggregate_id: "a1".into(),
            command_type: "Deposit".into(),
            command_version: 1,
            payload: cqrs_core::JsonPayload::parse(r#"{"id":"a1"}"#).unwrap(),
            reply_to: Some("replies".into()),
            deadline: None,
            headers: [
                ("traceparent", "00-ab-cd-01"),
                (headers::COMMAND_ID, "spoofed"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        }
    }

    fn parts(headers: &OwnedHeaders) -> Vec<(String, Option<Vec<u8>>)> {
        headers
            .iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect()
    }

    #[test]
    fn an_encoded_envelope_decodes_back_and_carries_its_trace_context_as_headers() {
        let sent = envelope();
        let headers = parts(&envelope_headers(&sent, &Span::none()));
        let value = serde_json::to_vec(&sent).unwrap();
        let message =
            IncomingMessage::from_parts(SOURCE, Some(b"a1"), Some(&value), None, &headers);
        assert_eq!(message.header("traceparent"), Some(&b"00-ab-cd-01"[..]));
        let id = sent.command_id.to_string();
        assert_eq!(
            message.header(headers::COMMAND_ID),
            Some(id.as_bytes()),
            "ours, not the envelope's"
        );
        let Ok(CommandMessage::Envelope(received)) = CommandDecoder.decode(&message) else {
            panic!("not decoded");
        };
        assert_eq!(received.command_id, sent.command_id);
        assert_eq!(received.headers, sent.headers);
    }

    #[test]
    fn a_message_that_is_no_envelope_is_answered_when_its_headers_say_where() {
        let sent = envelope();
        let headers = parts(&envelope_headers(&sent, &Span::none()));
        let message = IncomingMessage::from_parts(SOURCE, None, Some(b"{not json"), None, &headers);
        let Ok(CommandMessage::Undecodable { reply, reason }) = CommandDecoder.decode(&message)
        else {
            panic!("expected an answerable undecodable message");
        };
        assert_eq!(reply.command_id, sent.command_id);
        assert_eq!(reply.correlation_id, sent.correlation_id);
        assert_eq!(reply.reply_to, "replies");
        assert!(reason.contains("offset 7"), "{reason}");

        let message = IncomingMessage::from_parts(SOURCE, None, Some(b"{}"), None, &[]);
        let error = CommandDecoder
            .decode(&message)
            .expect_err("nowhere to answer");
        assert!(error.to_string().contains("no command envelope"), "{error}");
    }
}
