//! A small seeded generator of hostile JSON for the fuzz-style HTTP tests: random values,
//! and mutations of a valid body (wrong types, huge numbers, deep nesting, huge strings,
//! NUL and control characters, unicode, missing and extra fields, broken bytes).

use serde_json::{Map, Value};

/// xorshift64*: deterministic, so a failing case replays from its seed.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed` (0 counts as 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "1.5",
    "-0",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1000",
    "1001",
    "100000000",
    "100000001",
    "4294967296",
    "1e2",
    "0.0000001",
];

const TEXTS: &[&str] = &[
    "",
    " ",
    "pen",
    "a\u{0}b",
    "\u{0}",
    "line\nbreak",
    "tab\t",
    "\u{1b}[31m",
    "\u{7f}",
    "ünïcødé",
    "𝄞𝄞𝄞",
    "\u{202e}rtl",
    "\u{feff}bom",
    "\"quoted\"",
    "back\\slash",
    "%00",
    "Order-1",
    "o/1",
    "../etc",
    "😀",
];

/// A random JSON value, at most `depth` levels deep.
pub fn value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth == 0 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 | 3 => number(rng),
        4 => Value::String((*rng.pick(TEXTS)).to_owned()),
        5 => Value::String(long_text(rng)),
        6 | 7 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => {
            let mut object = Map::new();
            for _ in 0..rng.below(4) {
                object.insert((*rng.pick(TEXTS)).to_owned(), value(rng, depth - 1));
            }
            Value::Object(object)
        }
    }
}

fn number(rng: &mut Rng) -> Value {
    let text: &&str = rng.pick(NUMBERS);
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn long_text(rng: &mut Rng) -> String {
    let unit = *rng.pick(&["x", "é", "𝄞", "\u{0}", "\\"]);
    unit.repeat(*rng.pick(&[65, 129, 201, 501, 10_000, 300_000]))
}

/// `valid` with random mutations, as the bytes to send (not always UTF-8). A third of the
/// time one leaf keeps its type and gets a hostile value (so the body still reaches the
/// domain's rules: `i64::MAX` prices, NUL in a sku, ...); otherwise one to three arbitrary
/// mutations.
pub fn mutate(rng: &mut Rng, valid: &Value) -> Vec<u8> {
    let mut body = valid.clone();
    if rng.below(3) == 0 {
        hostile_leaf(rng, &mut body);
        return body.to_string().into_bytes();
    }
    for _ in 0..=rng.below(3) {
        mutate_value(rng, &mut body);
    }
    let mut bytes = body.to_string().into_bytes();
    match rng.below(10) {
        0 => bytes.truncate(rng.below(bytes.len().max(1))),
        1 => bytes = ("[".repeat(5_000) + &"]".repeat(5_000)).into_bytes(), // deep nesting
        2 => {
            let at = rng.below(bytes.len().max(1));
            if let Some(byte) = bytes.get_mut(at) {
                *byte = rng.next_u64() as u8;
            }
        }
        _ => {}
    }
    bytes
}

fn hostile_leaf(rng: &mut Rng, target: &mut Value) {
    match target {
        Value::Object(object) if !object.is_empty() => {
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            hostile_leaf(rng, object.get_mut(&key).expect("key"));
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.below(items.len());
            hostile_leaf(rng, &mut items[at]);
        }
        Value::Number(_) => *target = number(rng),
        Value::String(_) if rng.below(4) == 0 => *target = Value::String(long_text(rng)),
        Value::String(_) => *target = Value::String((*rng.pick(TEXTS)).to_owned()),
        leaf => *leaf = value(rng, 1),
    }
}

fn mutate_value(rng: &mut Rng, target: &mut Value) {
    match target {
        Value::Object(object) if !object.is_empty() => {
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            match rng.below(5) {
                0 => {
                    object.remove(&key);
                }
                1 => {
                    object.insert((*rng.pick(TEXTS)).to_owned(), value(rng, 2));
                }
                2 => {
                    object.insert(key, value(rng, 3));
                }
                _ => mutate_value(rng, object.get_mut(&key).expect("key")),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.below(items.len());
            match rng.below(4) {
                0 => {
                    items.remove(at);
                }
                1 => items.push(value(rng, 2)),
                _ => mutate_value(rng, &mut items[at]),
            }
        }
        leaf => *leaf = value(rng, 2),
    }
}

/// Percent-encodes `text` for a path segment.
pub fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
