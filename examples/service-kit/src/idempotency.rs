//! The `Idempotency-Key` request header: the client's name for one command, so that
//! sending it again (after a lost reply, a timeout, a crash) has one effect and gets the
//! first execution's answer.
//!
//! The key becomes the command id
//! ([`CommandContext::with_command_id`](cqrs_core::CommandContext::with_command_id)): a key
//! that is a UUID is the command id as it is; any other key of 1 to [`MAX_KEY_LEN`]
//! visible ASCII characters (`!` to `~`) becomes the name-based UUID (v5) of its bytes in
//! [`KEY_NAMESPACE`]. A request without the header runs under a fresh command id, as
//! before. What the command pipeline then guarantees: the same key again returns the first
//! execution's outcome (its events, or its recorded refusal), and a key used for a command
//! on another aggregate is refused (`CommandError::CommandIdReused`).
//!
//! ```
//! use axum::http::HeaderMap;
//! use service_kit::idempotency::{command_context, IdempotencyKey, InvalidIdempotencyKey};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("idempotency-key", "order-42-pay".parse().unwrap());
//! let first = command_context(&headers).unwrap();
//! let again = command_context(&headers).unwrap();
//! assert_eq!(first.command_id, again.command_id);
//! assert!(first.check_repeats);
//!
//! let uuid = "0191c7a2-7d3e-7b4a-9c1e-3f2a1b0c9d8e";
//! assert_eq!(IdempotencyKey::parse(uuid.as_bytes()).unwrap().command_id().to_string(), uuid);
//! assert_eq!(IdempotencyKey::parse(b"two words"), Err(InvalidIdempotencyKey::NotVisible { at: 3 }));
//! ```

use axum::http::{HeaderMap, HeaderName};
use cqrs_core::CommandContext;
use uuid::Uuid;

/// The header, as `HeaderMap` names it (`Idempotency-Key` on the wire, any case).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The header's name as errors and documentation spell it.
pub const HEADER_NAME: &str = "Idempotency-Key";

/// The longest key accepted, in bytes (= characters: keys are ASCII).
pub const MAX_KEY_LEN: usize = 200;

/// The namespace of the name-based UUIDs made from keys that are not UUIDs:
/// `6f9e2b1c-4d3a-5e8f-9a7b-1c2d3e4f5a6b`. Fixed for good: another namespace would give
/// every such key another command id, so a repeat sent across the change would run again.
pub const KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6f9e_2b1c_4d3a_5e8f_9a7b_1c2d_3e4f_5a6b);

/// Why an `Idempotency-Key` header was refused (HTTP 400 naming the header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdempotencyKey {
    /// The header is empty.
    #[error(
        "the Idempotency-Key header is empty: send 1 to {MAX_KEY_LEN} visible ASCII characters"
    )]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`].
    #[error("the Idempotency-Key header is {len} bytes long: at most {MAX_KEY_LEN} are accepted")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A byte that is not visible ASCII (a space, a control character, non-ASCII).
    #[error("the Idempotency-Key header has a character that is not visible ASCII (`!` to `~`) at byte {at}")]
    NotVisible {
        /// Its index in the key.
        at: usize,
    },
    /// The header is given more than once.
    #[error("the Idempotency-Key header is given {count} times: send one key per request")]
    Repeated {
        /// How many times.
        count: usize,
    },
}

/// A valid key, as the command id it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyKey {
    command_id: Uuid,
}

impl IdempotencyKey {
    /// Checks a header value and derives its command id (see the [module docs](self)).
    pub fn parse(value: &[u8]) -> Result<Self, InvalidIdempotencyKey> {
        if value.is_empty() {
            return Err(InvalidIdempotencyKey::Empty);
        }
        if value.len() > MAX_KEY_LEN {
            return Err(InvalidIdempotencyKey::TooLong { len: value.len() });
        }
        if let Some(at) = value.iter().position(|b| !b.is_ascii_graphic()) {
            return Err(InvalidIdempotencyKey::NotVisible { at });
        }
        let command_id =
            Uuid::try_parse_ascii(value).unwrap_or_else(|_| Uuid::new_v5(&KEY_NAMESPACE, value));
        Ok(Self { command_id })
    }

    /// The key of a request, if it has the header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, InvalidIdempotencyKey> {
        let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        let more = values.count();
        if more > 0 {
            return Err(InvalidIdempotencyKey::Repeated { count: more + 1 });
        }
        Self::parse(value.as_bytes()).map(Some)
    }

    /// The command id the key names.
    pub fn command_id(&self) -> Uuid {
        self.command_id
    }
}

/// The context the command of a request with these `headers` runs in: under its key's
/// command id when it has an `Idempotency-Key`, under a fresh one otherwise.
pub fn command_context(headers: &HeaderMap) -> Result<CommandContext, InvalidIdempotencyKey> {
    Ok(match IdempotencyKey::from_headers(headers)? {
        Some(key) => CommandContext::new().with_command_id(key.command_id()),
        None => CommandContext::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_key_is_one_command_id_and_two_keys_are_two() {
        let a = IdempotencyKey::parse(b"checkout-7").unwrap();
        assert_eq!(a, IdempotencyKey::parse(b"checkout-7").unwrap());
        assert_ne!(a, IdempotencyKey::parse(b"checkout-8").unwrap());
        assert_eq!(a.command_id(), Uuid::new_v5(&KEY_NAMESPACE, b"checkout-7"));
        assert_eq!(a.command_id().get_version_num(), 5);
    }

    #[test]
    fn a_uuid_key_is_the_command_id_in_any_spelling() {
        let id = Uuid::now_v7();
        for spelling in [
            id.to_string(),
            id.simple().to_string(),
            id.to_string().to_uppercase(),
        ] {
            assert_eq!(
                IdempotencyKey::parse(spelling.as_bytes())
                    .unwrap()
                    .command_id(),
                id
            );
        }
    }

    #[test]
    fn empty_long_and_invisible_keys_are_refused() {
        assert_eq!(
            IdempotencyKey::parse(b""),
            Err(InvalidIdempotencyKey::Empty)
        );
        let longest = "k".repeat(MAX_KEY_LEN);
        assert!(IdempotencyKey::parse(longest.as_bytes()).is_ok());
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            IdempotencyKey::parse(long.as_bytes()),
            Err(InvalidIdempotencyKey::TooLong { len: 201 })
        );
        assert_eq!(
            IdempotencyKey::parse("clé".as_bytes()),
            Err(InvalidIdempotencyKey::NotVisible { at: 2 })
        );
        assert_eq!(
            IdempotencyKey::parse(b"tab\there"),
            Err(InvalidIdempotencyKey::NotVisible { at: 3 })
        );
        assert!(InvalidIdempotencyKey::Empty
            .to_string()
            .contains(HEADER_NAME));
    }

    #[test]
    fn no_header_is_a_fresh_command_and_two_headers_are_refused() {
        let mut headers = HeaderMap::new();
        let context = command_context(&headers).unwrap();
        assert!(!context.check_repeats);
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("a"));
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("b"));
        assert_eq!(
            command_context(&headers).unwrap_err(),
            InvalidIdempotencyKey::Repeated { count: 2 }
        );
    }
}
