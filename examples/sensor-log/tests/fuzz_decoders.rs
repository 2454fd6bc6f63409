//! Fuzz-style tests of every decoder of device input: the readings message, the sensor
//! metadata message, and both as HTTP bodies through the embedded router. Random and
//! mutated inputs (wrong types, huge, NaN-like and infinite numbers, deep nesting, huge
//! strings, NUL and control characters, bad timestamps, missing and extra fields,
//! non-UTF-8 bytes) must never panic; each is accepted (and then within every documented
//! range) or refused with a rejection code (and the field, when one is to blame); and a
//! good input afterwards is still handled.
//!
//! The generator is service-kit's seeded xorshift, so a failure names its seed and case and
//! replays exactly. Case counts keep each test to well under a few seconds.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::Router;
use sensor_log::api::{router, AppState};
use sensor_log::device::{
    decode_readings, decode_sensor, Limits, Rejection, CPU_RANGE, MAX_EPOCH_SECONDS,
    MAX_TEXT_CHARS, MIN_EPOCH_SECONDS, TEMPERATURE_RANGE,
};
use sensor_log::ingest::Ingestor;
use sensor_log::queries::SensorQueries;
use sensor_log::store::{MemoryStore, SensorStore};
use serde_json::{json, Value};
use service_kit::testing::fuzz::Rng;

const SEED: u64 = 0x5e45_0a10_2026_0010;
/// Every fuzz loop stops after this long, whatever its case count.
const TIME_BOX: Duration = Duration::from_secs(3);

/// A hostile JSON value: wrong types, extreme numbers, odd text, nesting.
fn hostile_value(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(i64::MAX),
        3 => json!(i64::MIN),
        4 => json!(u64::MAX),
        5 => json!(f64::MAX),
        6 => json!(-0.0),
        7 => json!(1e-308),
        8 => json!(rng.next_u64() as i64),
        9 => json!(f64::from_bits(rng.next_u64()) % 1e6), // NaN/inf become null in serde_json
        10 => json!(rng.pick(&["NaN", "Infinity", "-inf", "1646409600", ""])),
        11 => json!("a\u{0}b\u{1b}[31m\u{7f}\u{9b}\r\n"),
        12 => json!("ü".repeat(rng.below(2 * MAX_TEXT_CHARS))),
        13 => json!([1, [2, [3]]]),
        14 => json!({"nested": {"deeper": [null]}}),
        _ => json!(rng.below(1_000_000) as f64 / 7.0),
    }
}

fn good_reading(rng: &mut Rng) -> Value {
    json!({"ts": 1_646_409_600 + rng.below(1_000_000) as i64, "sensor_id": 1 + rng.below(1000),
           "temperature": 20.5, "cpu": rng.below(101)})
}

/// A structurally mutated JSON message, as bytes.
fn mutate_json(rng: &mut Rng, mut message: Value) -> Vec<u8> {
    let fields = [
        "ts",
        "ts_ms",
        "sensor_id",
        "temperature",
        "cpu",
        "id",
        "type",
        "location",
    ];
    for _ in 0..=rng.below(3) {
        let target = match &mut message {
            Value::Array(items) if !items.is_empty() => {
                let index = rng.below(items.len());
                &mut items[index]
            }
            other => other,
        };
        if let Value::Object(object) = target {
            let field = (*rng.pick(&fields)).to_owned();
            match rng.below(4) {
                0 => {
                    object.remove(&field);
                }
                1 => {
                    object.insert(format!("extra\u{0}{}", rng.below(9)), hostile_value(rng));
                }
                _ => {
                    object.insert(field, hostile_value(rng));
                }
            }
        }
    }
    let mut bytes = serde_json::to_vec(&message).expect("serializable");
    match rng.below(8) {
        // Flip a byte (often not UTF-8 any more) or cut the message short.
        0 if !bytes.is_empty() => {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next_u64() as u8;
        }
        1 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len())),
        _ => {}
    }
    bytes
}

/// Inputs that are not mutations of a good message at all.
fn wild_input(rng: &mut Rng) -> Vec<u8> {
    match rng.below(7) {
        0 => (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
        1 => {
            let depth = 1 + rng.below(5_000);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        2 => {
            let depth = 1 + rng.below(5_000);
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes()
        }
        3 => format!("[\"{}\"]", "x".repeat(rng.below(3 << 20))).into_bytes(),
        4 => format!(
            "[{}]",
            "1e999,".repeat(1 + rng.below(100)).trim_end_matches(',')
        )
        .into_bytes(),
        5 => b"\xef\xbb\xbf[{\"ts\": 1646409600}]".to_vec(), // UTF-8 BOM
        _ => format!("[{}]", vec!["{}"; 1 + rng.below(20_000)].join(",")).into_bytes(),
    }
}

/// A refusal always carries a known code, and a field whenever one is to blame.
fn assert_explained(rejection: &Rejection, input: &[u8]) {
    let code = rejection.reason.code();
    let message_level = [
        "oversized",
        "too_many_readings",
        "invalid_json",
        "empty",
        "wrong_type",
    ];
    let known = [
        "missing_field",
        "out_of_range",
        "ambiguous_timestamp",
        "timestamp_unit",
        "control_character",
    ];
    assert!(
        message_level.contains(&code) || (known.contains(&code) && rejection.field.is_some()),
        "unexplained rejection {rejection:?} of {}",
        String::from_utf8_lossy(&input[..input.len().min(200)])
    );
    assert!(!rejection.to_string().is_empty());
}

fn run(cases: usize, mut case: impl FnMut(&mut Rng, usize)) -> usize {
    let mut rng = Rng::new(SEED);
    let start = Instant::now();
    let mut done = 0;
    while done < cases && start.elapsed() < TIME_BOX {
        case(&mut rng, done);
        done += 1;
    }
    done
}

#[test]
fn readings_decoder_accepts_in_range_or_explains_every_refusal() {
    let limits = Limits::default();
    let done = run(3_000, |rng, case| {
        let input = if rng.below(5) == 0 {
            wild_input(rng)
        } else {
            let message: Vec<Value> = (0..1 + rng.below(4)).map(|_| good_reading(rng)).collect();
            mutate_json(rng, Value::from(message))
        };
        match decode_readings(&input, &limits) {
            Ok(readings) => {
                assert!(!readings.is_empty(), "case {case}");
                for r in readings {
                    assert!(r.sensor_id > 0, "case {case}: {r:?}");
                    let seconds = r.ts.timestamp();
                    assert!((MIN_EPOCH_SECONDS..=MAX_EPOCH_SECONDS).contains(&seconds));
                    assert!(TEMPERATURE_RANGE.contains(&r.temperature), "case {case}");
                    assert!(CPU_RANGE.contains(&r.cpu), "case {case}");
                }
            }
            Err(rejection) => assert_explained(&rejection, &input),
        }
    });
    assert!(done >= 200, "only {done} cases within {TIME_BOX:?}");
    eprintln!("{done} cases");
    let good = br#"[{"ts": 1646409600, "sensor_id": 1, "temperature": 30, "cpu": 20}]"#;
    assert_eq!(decode_readings(good, &limits).expect("good").len(), 1);
}

#[test]
fn sensor_decoder_keeps_only_printable_bounded_text_or_explains_the_refusal() {
    let limits = Limits::default();
    let done = run(3_000, |rng, case| {
        let input = if rng.below(5) == 0 {
            wild_input(rng)
        } else {
            let good = json!({"id": 1 + rng.below(100), "type": "pi", "location": "lab"});
            mutate_json(rng, good)
        };
        match decode_sensor(&input, &limits) {
            Ok(info) => {
                assert!(info.id > 0, "case {case}");
                for text in [&info.kind, &info.location].into_iter().flatten() {
                    assert!(text.chars().count() <= MAX_TEXT_CHARS, "case {case}");
                    assert!(!text.chars().any(char::is_control), "case {case}: {text:?}");
                }
            }
            Err(rejection) => assert_explained(&rejection, &input),
        }
    });
    assert!(done >= 200, "only {done} cases within {TIME_BOX:?}");
    eprintln!("{done} cases");
    let good = br#"{"id": 3, "type": "pi", "location": "lab"}"#;
    assert_eq!(decode_sensor(good, &limits).expect("good").id, 3);
}

fn embedded() -> Router {
    let store: Arc<dyn SensorStore> = Arc::new(MemoryStore::default());
    router(AppState {
        queries: SensorQueries::new(store.clone()),
        ingestor: Some(Ingestor::new(store)),
    })
}

#[tokio::test]
async fn ingest_bodies_over_http_never_get_a_5xx() {
    let app = embedded();
    let mut rng = Rng::new(SEED ^ 0xff);
    let start = Instant::now();
    // The extremes first, then random inputs.
    let mut fixed: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![b' '; 3 << 20], // over the 2 MiB body limit: 413, with a JSON body
        vec![b'['; 100_000],
        b"\xff\xfe\x00".to_vec(),
        b"[{\"ts\": 1646409600, \"sensor_id\": 1, \"temperature\": 1e999, \"cpu\": 1}]".to_vec(),
    ];
    let mut cases = 0;
    while cases < 600 && start.elapsed() < TIME_BOX {
        let sensors = rng.below(2) == 0;
        let input = match rng.below(5) {
            _ if !fixed.is_empty() => fixed.remove(0),
            0 => wild_input(&mut rng),
            _ if sensors => mutate_json(&mut rng, json!({"id": 1, "type": "pi"})),
            _ => {
                let reading = good_reading(&mut rng);
                mutate_json(&mut rng, json!([reading]))
            }
        };
        let uri = if sensors {
            "/ingest/sensors"
        } else {
            "/ingest/readings"
        };
        let (status, body) = support::post_bytes(&app, uri, input).await;
        assert!(
            status == StatusCode::OK || (status.is_client_error() && body["error"].is_string()),
            "case {cases}: {status} {body}"
        );
        cases += 1;
    }
    assert!(cases >= 100, "only {cases} cases within {TIME_BOX:?}");
    eprintln!("{cases} cases");
    let good = r#"[{"ts": 1646409600, "sensor_id": 777, "temperature": 30, "cpu": 20}]"#;
    let (status, body) = support::post(&app, "/ingest/readings", good).await;
    assert_eq!(
        (status, &body["stored"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );
}
