//! JSON to BSON and back: what must survive the round trip, and what is refused.
use super::*;

fn round_trip(json: &str) -> String {
    bson_to_json(&json_to_bson(json).expect("to bson")).expect("to json")
}

fn same_value(a: &str, b: &str) {
    let a: serde_json::Value = serde_json::from_str(a).expect("a");
    let b: serde_json::Value = serde_json::from_str(b).expect("b");
    assert_eq!(a, b);
}

#[test]
fn object_key_order_is_kept() {
    assert_eq!(
        round_trip(r#"{"z":1,"a":2,"m":{"y":true,"b":null}}"#),
        r#"{"z":1,"a":2,"m":{"y":true,"b":null}}"#
    );
}

#[test]
fn integers_beyond_i64_round_trip_exactly() {
    let json = r#"{"max_u64":18446744073709551615,"above_i64":9223372036854775808,"min_i64":-9223372036854775808}"#;
    assert_eq!(round_trip(json), json);
    let bson = json_to_bson(json).unwrap();
    let doc = bson.as_document().unwrap();
    assert!(matches!(doc.get("max_u64"), Some(Bson::Decimal128(_))));
    assert_eq!(doc.get("min_i64"), Some(&Bson::Int64(i64::MIN)));
}

#[test]
fn floats_keep_their_value() {
    let json = r#"{"pi":3.141592653589793,"tiny":5e-324,"big":1.7976931348623157e308,"two":2.0,"neg":-0.5}"#;
    same_value(&round_trip(json), json);
}

#[test]
fn unicode_strings_and_keys_round_trip() {
    let json = r#"{"名前":"Zoë 🚀","emoji_🙂":"\u00e9\ud83d\ude00","esc":"line\nbreak \"quoted\" \\ tab\t"}"#;
    same_value(&round_trip(json), json);
    assert!(round_trip(json).contains("Zoë 🚀"));
}

#[test]
fn extended_json_lookalikes_stay_plain_data() {
    let json = r#"{"$oid":"507f1f77bcf86cd799439011","$date":{"$numberLong":"1"},"a.b":1}"#;
    assert_eq!(round_trip(json), json);
    let bson = json_to_bson(json).unwrap();
    assert_eq!(
        bson.as_document().unwrap().get_str("$oid"),
        Ok("507f1f77bcf86cd799439011")
    );
}

#[test]
fn scalars_and_arrays_at_top_level_round_trip() {
    for json in [
        "[1,\"two\",[3],{\"four\":4}]",
        "\"just a string\"",
        "42",
        "null",
        "true",
        "[]",
        "{}",
    ] {
        assert_eq!(round_trip(json), json);
    }
}

#[test]
fn deeply_nested_payloads_within_the_limit_round_trip() {
    let depth = MAX_PAYLOAD_DEPTH;
    let json = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(round_trip(&json), json);
}

#[test]
fn payloads_deeper_than_mongodb_allows_are_refused() {
    let depth = MAX_PAYLOAD_DEPTH + 2;
    let json = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(json_to_bson(&json), Err(PayloadError::TooDeep));
}

#[test]
fn nul_in_object_key_is_refused() {
    assert_eq!(
        json_to_bson(r#"{"a\u0000b":1}"#),
        Err(PayloadError::NulInKey)
    );
    // NUL inside a string value is fine for BSON.
    assert_eq!(round_trip(r#"{"a":"x\u0000y"}"#), r#"{"a":"x\u0000y"}"#);
}

#[test]
fn invalid_json_and_trailing_text_are_refused() {
    assert!(matches!(json_to_bson("{"), Err(PayloadError::Json(_))));
    assert!(matches!(json_to_bson("{} {}"), Err(PayloadError::Json(_))));
}

#[test]
fn bson_types_without_json_equivalent_are_reported() {
    let value = Bson::Document(bson::doc! { "when": bson::DateTime::from_millis(0) });
    assert!(
        matches!(bson_to_json(&value), Err(PayloadError::NotJson(kind)) if kind.contains("DateTime"))
    );
}

#[test]
fn decimal_encoding_of_u64_is_the_standard_one() {
    // 2^63 as Decimal128, exponent 0: checked against the IEEE 754 BID layout.
    let d = decimal_from_u64(1 << 63);
    let bytes = d.bytes();
    assert_eq!(&bytes[..8], &(1u64 << 63).to_le_bytes());
    assert_eq!(&bytes[8..], &0x3040_0000_0000_0000u64.to_le_bytes());
    assert_eq!(decimal_to_u64(&d), Some(1 << 63));
}
