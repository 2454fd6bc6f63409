//! Fuzz-style test of the two decoders: random and mutated keys, payloads and headers
//! (missing, duplicated, empty, non-UTF-8, huge, negative, invalid JSON) never panic; each
//! input is decoded or refused with a reason naming the message; a good message decodes
//! afterwards. Needs no broker: messages are built from their parts. A seeded PRNG keeps
//! every run identical (the seed is in each failure message).

use cqrs_kafka::{
    headers, Decoder, EnvelopeDecoder, IncomingMessage, MessageDecodeError, MessageSource,
    RawJsonDecoder,
};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

type Headers = Vec<(String, Option<Vec<u8>>)>;

/// The headers the relay writes for a valid event.
fn good_headers() -> Headers {
    [
        (headers::EVENT_ID, "0190f3c4-7a9e-7cc0-8f5e-3d2b1a0c9e8f"),
        (headers::EVENT_TYPE, "OrderPlaced"),
        (headers::EVENT_VERSION, "1"),
        (headers::STREAM_ID, "Order-42"),
        (headers::STREAM_VERSION, "3"),
        (headers::GLOBAL_POSITION, "1207"),
        (headers::RECORDED_AT, "2026-11-30T12:34:56.789Z"),
        (
            headers::CORRELATION_ID,
            "0190f3c4-7a9e-7cc0-8f5e-3d2b1a0c9e80",
        ),
        ("meta-tenant", "acme"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Some(v.as_bytes().to_vec())))
    .collect()
}

const GOOD_PAYLOAD: &[u8] = br#"{"total":1250,"lines":[{"sku":"a","qty":2}]}"#;

/// A hostile variant of a header value.
fn hostile_value(rng: &mut Rng) -> Option<Vec<u8>> {
    let text = |s: &str| Some(s.as_bytes().to_vec());
    match rng.below(12) {
        0 => None,
        1 => text(""),
        2 => text("-1"),
        3 => text("18446744073709551616"), // u64::MAX + 1
        4 => text("99999999999999999999999999999999"),
        5 => Some(vec![0xff, 0xfe, 0x00, 0xc3]), // not UTF-8
        6 => Some("9".repeat(100_000).into_bytes()), // huge
        7 => text("not-a-uuid"),
        8 => text("2026-13-45T99:99:99Z"),
        9 => text("\u{0}"),
        10 => text("+5"),
        _ => Some(rng.bytes(64)),
    }
}

/// A hostile payload.
fn hostile_payload(rng: &mut Rng) -> Option<Vec<u8>> {
    match rng.below(9) {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some(b"{not json".to_vec()),
        3 => Some(vec![0xc3, 0x28]),                // invalid UTF-8
        4 => Some("[".repeat(10_000).into_bytes()), // nesting bomb
        5 => Some(format!(r#"{{"a":"{}"}}"#, "x".repeat(200_000)).into_bytes()),
        6 => Some(br#"{"a":1}trailing"#.to_vec()),
        7 => {
            // A valid payload with one byte flipped.
            let mut p = GOOD_PAYLOAD.to_vec();
            let at = rng.below(p.len());
            p[at] = rng.next() as u8;
            Some(p)
        }
        _ => Some(rng.bytes(256)),
    }
}

/// The good message's headers, mutated: headers dropped, duplicated, renamed, their values
/// replaced with hostile ones, random headers added.
fn mutated_headers(rng: &mut Rng) -> Headers {
    let mut headers = good_headers();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(headers.len());
        match rng.below(5) {
            0 => {
                headers.remove(at);
            }
            1 => {
                let mut copy = headers[at].clone();
                copy.1 = hostile_value(rng);
                // A duplicate, before or after the original.
                let to = if rng.chance(50) { at } else { headers.len() };
                headers.insert(to, copy);
            }
            2 => headers[at].1 = hostile_value(rng),
            3 => headers[at].0 = format!("{}-x", headers[at].0),
            _ => headers.push((
                String::from_utf8_lossy(&rng.bytes(16)).into_owned(),
                hostile_value(rng),
            )),
        }
        if headers.is_empty() {
            break;
        }
    }
    headers
}

/// Decoding `message` never panics, and a refusal names the message.
fn decode_or_refuse(decoder: &dyn Decoder, message: &IncomingMessage<'_>, case: &str) -> bool {
    let decoded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.decode(message)));
    match decoded {
        Err(_) => panic!("{case}: the decoder panicked"),
        Ok(Ok(event)) => {
            assert!(
                !event.event_type.is_empty(),
                "{case}: decoded without a type"
            );
            assert!(
                !event.stream_id.is_empty(),
                "{case}: decoded without a stream"
            );
            true
        }
        Ok(Err(error)) => {
            let reason = error.to_string();
            assert!(
                reason.contains("topic `orders` partition 2 offset"),
                "{case}: a refusal must name the message: {reason}"
            );
            assert!(
                matches!(
                    error,
                    MessageDecodeError::MissingHeader { .. }
                        | MessageDecodeError::InvalidHeader { .. }
                        | MessageDecodeError::EmptyPayload { .. }
                        | MessageDecodeError::InvalidPayload { .. }
                ),
                "{case}"
            );
            false
        }
    }
}

#[test]
fn hostile_messages_are_decoded_or_refused_with_a_reason_and_never_panic() {
    const SEED: u64 = 0x5eed_cafe_f00d_0010;
    const CASES: usize = 3_000;
    let mut rng = Rng(SEED);
    let envelope = EnvelopeDecoder;
    let raw = RawJsonDecoder::default().with_event_type("Reading");
    let (mut decoded, mut refused) = (0, 0);
    for case in 0..CASES {
        let headers = if rng.chance(80) {
            mutated_headers(&mut rng)
        } else {
            good_headers()
        };
        let payload = if rng.chance(60) {
            hostile_payload(&mut rng)
        } else {
            Some(GOOD_PAYLOAD.to_vec())
        };
        let key = match rng.below(4) {
            0 => None,
            1 => Some(vec![0xff, 0x00]),
            2 => Some(rng.bytes(600)),
            _ => Some(b"Order-42".to_vec()),
        };
        let offsets = [0, 7, i64::MAX, -1, i64::MIN];
        let source = MessageSource {
            topic: "orders",
            partition: 2,
            offset: offsets[rng.below(offsets.len())],
        };
        let timestamps = [None, Some(0), Some(i64::MAX), Some(i64::MIN), Some(-1)];
        let timestamp = timestamps[rng.below(timestamps.len())];
        let message = IncomingMessage::from_parts(
            source,
            key.as_deref(),
            payload.as_deref(),
            timestamp,
            &headers,
        );
        let what = format!("seed {SEED:#x} case {case}");
        for decoder in [&envelope as &dyn Decoder, &raw] {
            if decode_or_refuse(decoder, &message, &what) {
                decoded += 1;
            } else {
                refused += 1;
            }
        }
    }
    assert!(
        decoded > CASES / 10 && refused > CASES / 2,
        "both outcomes are exercised: {decoded} decoded, {refused} refused"
    );

    // A good message after all that decodes to exactly its envelope.
    let headers = good_headers();
    let source = MessageSource {
        topic: "orders",
        partition: 2,
        offset: 9,
    };
    let message = IncomingMessage::from_parts(
        source,
        Some(b"Order-42"),
        Some(GOOD_PAYLOAD),
        Some(1_764_506_096_789),
        &headers,
    );
    let event = envelope.decode(&message).expect("the good message decodes");
    assert_eq!(
        (
            &*event.stream_id,
            event.stream_version,
            event.position,
            &*event.event_type
        ),
        ("Order-42", 3, 1207, "OrderPlaced")
    );
    assert_eq!(event.payload.as_str().as_bytes(), GOOD_PAYLOAD);
    assert_eq!(event.metadata.headers["tenant"], "acme");
    let raw_event = raw.decode(&message).expect("the good message decodes raw");
    assert_eq!(
        (&*raw_event.stream_id, raw_event.position),
        ("Order-42", 10)
    );
}

#[test]
fn a_duplicated_envelope_header_uses_the_first_and_a_missing_one_is_named() {
    let source = MessageSource {
        topic: "orders",
        partition: 2,
        offset: 5,
    };
    let mut headers = good_headers();
    headers.push((headers::STREAM_VERSION.to_owned(), Some(b"-7".to_vec())));
    let message = IncomingMessage::from_parts(source, None, Some(GOOD_PAYLOAD), None, &headers);
    assert_eq!(
        EnvelopeDecoder
            .decode(&message)
            .expect("decodes")
            .stream_version,
        3
    );

    let without: Headers = good_headers()
        .into_iter()
        .filter(|(k, _)| k != headers::GLOBAL_POSITION)
        .collect();
    let message = IncomingMessage::from_parts(source, None, Some(GOOD_PAYLOAD), None, &without);
    let error = EnvelopeDecoder.decode(&message).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("missing header `global-position`"),
        "{error}"
    );
}
