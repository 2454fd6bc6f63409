//! Bounded copies of a message, for when the dead-letter or parking topic refuses the
//! whole message: the first bytes of the value, the headers that fit, the reason, and
//! headers saying what was cut.

use rdkafka::message::{Header, OwnedHeaders};

use crate::headers;

/// Longest text header (a reason, an error) written into a bounded copy, in bytes.
pub(crate) const MAX_TEXT_HEADER_BYTES: usize = 4 * 1024;

/// What a producer sends instead of a message that is too large for its topic.
pub(crate) struct BoundedCopy<'a> {
    /// The original headers that fit, then `extra`, then the truncation headers.
    pub(crate) headers: OwnedHeaders,
    /// The first `max_value_bytes` bytes of the value.
    pub(crate) value: Option<&'a [u8]>,
}

/// A copy of a message with at most `max_value_bytes` of its value and at most
/// `max_header_bytes` of its headers (keys and values; headers are kept in order until one does not fit, the
/// rest are dropped and counted), then the `extra` headers (each value cut at
/// [`MAX_TEXT_HEADER_BYTES`]), then [`DLQ_TRUNCATED`](headers::DLQ_TRUNCATED),
/// [`DLQ_ORIGINAL_VALUE_BYTES`](headers::DLQ_ORIGINAL_VALUE_BYTES) and
/// [`DLQ_DROPPED_HEADERS`](headers::DLQ_DROPPED_HEADERS).
pub(crate) fn bounded_copy<'h, 'v>(
    original: impl IntoIterator<Item = (&'h str, Option<&'h [u8]>)>,
    value: Option<&'v [u8]>,
    (max_value_bytes, max_header_bytes): (usize, usize),
    extra: &[(&str, &str)],
) -> BoundedCopy<'v> {
    let mut out = OwnedHeaders::new();
    let (mut used, mut dropped) = (0usize, 0usize);
    for (key, header_value) in original {
        let size = key.len() + header_value.map_or(0, <[u8]>::len);
        if dropped > 0 || used + size > max_header_bytes {
            dropped += 1;
            continue;
        }
        used += size;
        out = out.insert(Header {
            key,
            value: header_value,
        });
    }
    for (key, text) in extra {
        out = out.insert(Header {
            key,
            value: Some(truncate_text(text, MAX_TEXT_HEADER_BYTES)),
        });
    }
    let original_len = value.map_or(0, <[u8]>::len);
    let kept = value.map(|v| &v[..v.len().min(max_value_bytes)]);
    for (key, text) in [
        (headers::DLQ_TRUNCATED, "true".to_owned()),
        (headers::DLQ_ORIGINAL_VALUE_BYTES, original_len.to_string()),
        (headers::DLQ_DROPPED_HEADERS, dropped.to_string()),
    ] {
        out = out.insert(Header {
            key,
            value: Some(text.as_str()),
        });
    }
    BoundedCopy {
        headers: out,
        value: kept,
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_text(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    fn text_headers(copy: &BoundedCopy<'_>) -> Vec<(String, String)> {
        copy.headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned();
                (h.key.to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn a_bounded_copy_keeps_the_first_bytes_and_the_headers_that_fit() {
        let value = vec![b'v'; 1_000];
        let big = vec![b'h'; 150];
        let original: Vec<(&str, Option<&[u8]>)> =
            vec![("a", Some(b"1")), ("big", Some(&big)), ("c", Some(b"3"))];
        let reason = "é".repeat(MAX_TEXT_HEADER_BYTES);
        let copy = bounded_copy(original, Some(&value), (100, 150), &[("why", &reason)]);
        assert_eq!(copy.value.map(<[u8]>::len), Some(100));
        let got = text_headers(&copy);
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "a",
                "why",
                headers::DLQ_TRUNCATED,
                headers::DLQ_ORIGINAL_VALUE_BYTES,
                headers::DLQ_DROPPED_HEADERS
            ],
            "headers after the first that does not fit are dropped, in order"
        );
        assert!(got[1].1.len() <= MAX_TEXT_HEADER_BYTES && got[1].1.starts_with('é'));
        assert_eq!(got[3].1, "1000");
        assert_eq!(got[4].1, "2");
    }
}
