//! The idempotency key hash, byte-for-byte the one Powertools for Python computes: MD5 (hex) of
//! `json.dumps(data, sort_keys=True)`. A TypeScript-compatible mode (MD5, base64, of
//! `JSON.stringify(deepSort(data))` as Powertools for TypeScript computes it) is an option.

use std::fmt::Write as _;

use md5::{Digest, Md5};
use serde_json::Value;

/// How the selected payload is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashMode {
    /// Powertools for Python: MD5 hex of `json.dumps(data, sort_keys=True)` (the default).
    #[default]
    Python,
    /// Powertools for TypeScript: MD5 base64 of `JSON.stringify(deepSort(data))`: keys sorted
    /// case-insensitively (UTF-16 order, ties in the payload's order), array-index keys first,
    /// `__proto__` dropped, numbers as JavaScript's doubles print. Keys that differ only by case
    /// keep the payload's order only when `serde_json`'s `preserve_order` feature is on (else
    /// `serde_json` has already sorted them by bytes) and the key expression is one
    /// `powertools_jmespath::Expression::search_ref` evaluates in place (paths,
    /// multi-selects, the Powertools functions); other JMESPath expressions return objects
    /// with their keys sorted by bytes.
    TypeScript,
}

impl HashMode {
    /// The hash of `value`.
    pub fn hash(self, value: &Value) -> String {
        match self {
            Self::Python => hex(&Md5::digest(python_dumps(value).as_bytes())),
            Self::TypeScript => {
                use base64::Engine as _;
                let digest = Md5::digest(js_dumps(value).as_bytes());
                base64::engine::general_purpose::STANDARD.encode(digest)
            }
        }
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

/// `json.dumps(value, sort_keys=True)` as Python writes it: separators `", "` and `": "`,
/// non-ASCII escaped (`\uXXXX`, surrogate pairs above U+FFFF), floats as `repr` prints them.
pub fn python_dumps(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_python(&mut out, value);
    out
}

/// `JSON.stringify(deepSort(value))` as Powertools for TypeScript hashes it.
pub fn js_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_js(&mut out, value);
    out
}

fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // Python compares by code point; UTF-8 byte order is the same order.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The keys of `map` in the order `JSON.stringify(deepSort(map))` writes them in Powertools for
/// TypeScript: `deepSort` sorts them by their lower-cased text compared in UTF-16 code units
/// (a stable sort: keys equal that way keep the payload's order), and drops `__proto__` (its
/// assignment sets the prototype instead); then JavaScript lists array-index keys (`"0"` to
/// `"4294967294"`) first, in numeric order.
fn js_sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut indices: Vec<(u32, &String, &Value)> = Vec::new();
    let mut named: Vec<(Vec<u16>, &String, &Value)> = Vec::new();
    for (key, value) in map {
        if key == "__proto__" {
            continue;
        }
        match array_index(key) {
            Some(index) => indices.push((index, key, value)),
            None => named.push((key.to_lowercase().encode_utf16().collect(), key, value)),
        }
    }
    indices.sort_by_key(|(index, _, _)| *index);
    named.sort_by(|a, b| a.0.cmp(&b.0));
    indices
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .chain(named.into_iter().map(|(_, k, v)| (k, v)))
        .collect()
}

/// `key` as an ECMAScript array index: the canonical decimal form of an integer from 0 to
/// 2^32 - 2.
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0"
        || (key.len() <= 10
            && key.starts_with(|c: char| matches!(c, '1'..='9'))
            && key.bytes().all(|b| b.is_ascii_digit()));
    if !canonical {
        return None;
    }
    key.parse::<u64>()
        .ok()
        .filter(|index| *index < u64::from(u32::MAX))
        .and_then(|index| u32::try_from(index).ok())
}

fn write_python<'a>(out: &mut impl std::fmt::Write, value: &'a Value) {
    // An explicit stack keeps deep payloads from overflowing ours.
    enum Item<'a> {
        Value(&'a Value),
        Text(&'static str),
        Key(&'a str),
    }
    let mut stack = Vec::with_capacity(16);
    stack.push(Item::Value(value));
    while let Some(item) = stack.pop() {
        match item {
            Item::Text(text) => push(out, text),
            Item::Key(key) => {
                python_string(out, key);
                push(out, ": ");
            }
            Item::Value(Value::Null) => push(out, "null"),
            Item::Value(Value::Bool(b)) => push(out, if *b { "true" } else { "false" }),
            Item::Value(Value::Number(n)) => write_python_number(out, n),
            Item::Value(Value::String(s)) => python_string(out, s),
            Item::Value(Value::Array(items)) => {
                stack.push(Item::Text("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push(Item::Value(item));
                    if i > 0 {
                        stack.push(Item::Text(", "));
                    }
                }
                stack.push(Item::Text("["));
            }
            Item::Value(Value::Object(map)) => {
                stack.push(Item::Text("}"));
                let mut push = |i: usize, key: &'a String, value: &'a Value| {
                    stack.push(Item::Value(value));
                    stack.push(Item::Key(key));
                    if i > 0 {
                        stack.push(Item::Text(", "));
                    }
                };
                // Already in order unless serde_json keeps the payload's (`preserve_order`).
                if map.keys().is_sorted() {
                    for (i, (key, value)) in map.iter().enumerate().rev() {
                        push(i, key, value);
                    }
                } else {
                    for (i, (key, value)) in sorted(map).into_iter().enumerate().rev() {
                        push(i, key, value);
                    }
                }
                stack.push(Item::Text("{"));
            }
        }
    }
}

fn write_js(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&js_number(n)),
        Value::String(s) => js_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, value)) in js_sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                js_string(out, key);
                out.push(':');
                write_js(out, value);
            }
            out.push('}');
        }
    }
}

/// The two-character escape JSON has for `c`, as both Python's `json.dumps` and JavaScript's
/// `JSON.stringify` write it.
fn short_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\u{8}' => "\\b",
        '\u{c}' => "\\f",
        _ => return None,
    })
}

/// Writes `s` to `out` (a `String` or a digest never fails).
fn push(out: &mut impl std::fmt::Write, s: &str) {
    let _ = out.write_str(s);
}

fn python_string(out: &mut impl std::fmt::Write, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    push(out, "\"");
    // Printable ASCII other than `"` and `\\` is copied in runs; everything else is escaped.
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        if matches!(c, ' '..='~') && c != '"' && c != '\\' {
            continue;
        }
        push(out, &s[plain_from..i]);
        plain_from = i + c.len_utf8();
        match short_escape(c) {
            Some(escaped) => push(out, escaped),
            None => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let mut escape = *b"\\u0000";
                    for (k, shift) in [12u16, 8, 4, 0].into_iter().enumerate() {
                        escape[2 + k] = HEX[usize::from((*unit >> shift) & 0xf)];
                    }
                    // Only ASCII was written.
                    push(out, std::str::from_utf8(&escape).unwrap_or_default());
                }
            }
        }
    }
    push(out, &s[plain_from..]);
    push(out, "\"");
}

fn js_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match short_escape(c) {
            Some(escaped) => out.push_str(escaped),
            None if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            None => out.push(c),
        }
    }
    out.push('"');
}

/// The shortest round-trip digits of `f` (positive, finite, non-zero) and the decimal exponent
/// of the first digit: `1.5e-7` → ("15", -7).
fn shortest_digits(f: f64) -> (String, i32) {
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    (mantissa.replace('.', ""), exponent.parse().unwrap_or(0))
}

/// `d.ddde±X` from shortest digits and the exponent of the first digit; the exponent has at
/// least `min_exp_digits` digits (Python writes `1e-05`, JavaScript `1e-7`).
fn scientific(digits: &str, exp: i32, min_exp_digits: usize) -> String {
    let (first, rest) = digits.split_at(1);
    let sign = if exp < 0 { '-' } else { '+' };
    let exponent = exp.unsigned_abs();
    if rest.is_empty() {
        format!("{first}e{sign}{exponent:0min_exp_digits$}")
    } else {
        format!("{first}.{rest}e{sign}{exponent:0min_exp_digits$}")
    }
}

fn write_python_number(out: &mut impl std::fmt::Write, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        write_python_float(out, n.as_f64().unwrap_or(0.0));
    }
}

/// A short string on the stack (the shortest digits of a float, 17 at most, and its exponent).
struct StackText {
    bytes: [u8; 40],
    len: usize,
}

impl StackText {
    fn new() -> Self {
        Self {
            bytes: [0; 40],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Python's `repr(float)`, written without allocating: the common forms (`12.5`, `0.001`,
/// `100.0`) directly, the rest by [`python_float`].
fn write_python_float(out: &mut impl std::fmt::Write, f: f64) {
    if f.is_finite() && f != 0.0 {
        let mut text = StackText::new();
        if write!(text, "{:e}", f.abs()).is_ok() {
            let (mantissa, exponent) = text.as_str().split_once('e').unwrap_or(("", ""));
            let (first, rest) = mantissa.split_at(mantissa.len().min(1));
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if let Ok(exp) = exponent.parse::<i32>()
                && (-4..16).contains(&exp)
                && !first.is_empty()
            {
                if f.is_sign_negative() {
                    push(out, "-");
                }
                let zeros = |out: &mut _, n: usize| {
                    for _ in 0..n {
                        push(out, "0");
                    }
                };
                if exp >= 0 {
                    // Digits before the point: `first`, then `exp` more.
                    let int_len = exp as usize;
                    push(out, first);
                    if rest.len() <= int_len {
                        push(out, rest);
                        zeros(out, int_len - rest.len());
                        push(out, ".0");
                    } else {
                        push(out, &rest[..int_len]);
                        push(out, ".");
                        push(out, &rest[int_len..]);
                    }
                } else {
                    push(out, "0.");
                    zeros(out, (-exp - 1) as usize);
                    push(out, first);
                    push(out, rest);
                }
                return;
            }
        }
    }
    push(out, &python_float(f));
}

/// Python's `repr(float)`.
pub(crate) fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exp) = shortest_digits(f.abs());
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        scientific(&digits, exp, 2)
    };
    format!("{sign}{body}")
}

fn js_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return js_float(i as f64).unwrap_or_else(|| i.to_string());
    }
    if let Some(u) = n.as_u64() {
        return js_float(u as f64).unwrap_or_else(|| u.to_string());
    }
    js_float(n.as_f64().unwrap_or(0.0)).unwrap_or_else(|| "null".to_owned())
}

/// ECMAScript `Number::toString`; `None` for NaN and infinities (JSON writes `null`).
fn js_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some("0".to_owned());
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let (digits, exp) = shortest_digits(f.abs());
    let k = digits.len() as i32;
    let n = exp + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        scientific(&digits, n - 1, 1)
    };
    Some(format!("{sign}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        for (f, expected) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (2.5e300, "2.5e+300"),
            (123456789012345.6, "123456789012345.6"),
            (100.0, "100.0"),
            (-3.5, "-3.5"),
        ] {
            assert_eq!(python_float(f), expected, "{f:e}");
        }
    }

    #[test]
    fn javascript_numbers() {
        for (f, expected) in [
            (1.0, "1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (-0.0, "0"),
            (27.5, "27.5"),
        ] {
            assert_eq!(js_float(f).as_deref(), Some(expected), "{f:e}");
        }
    }

    #[test]
    fn deep_payloads_do_not_overflow() {
        let mut v = Value::Null;
        for _ in 0..50_000 {
            v = Value::Array(vec![v]);
        }
        let dumped = python_dumps(&v);
        assert!(dumped.starts_with("[[[") && dumped.ends_with("]]]"));
        let mut stack = vec![v];
        while let Some(mut v) = stack.pop() {
            if let Value::Array(items) = &mut v {
                stack.append(items);
            }
        }
    }
}

#[cfg(test)]
mod float_forms {
    use super::{python_float, write_python_float};
    use proptest::prelude::*;

    fn written(f: f64) -> String {
        let mut out = String::new();
        write_python_float(&mut out, f);
        out
    }

    #[test]
    fn the_direct_forms_are_python_repr() {
        for (f, expected) in [
            (12.5, "12.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (0.001, "0.001"),
            (1e-4, "0.0001"),
            (-0.25, "-0.25"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(written(f), expected, "{f:e}");
        }
    }

    proptest! {
        #[test]
        fn written_as_python_float_writes(f in any::<f64>()) {
            prop_assert_eq!(written(f), python_float(f));
        }

        #[test]
        fn written_as_python_float_writes_near_the_form_edges(
            mantissa in 1.0f64..10.0,
            exp in -6i32..18,
        ) {
            let f = mantissa * 10f64.powi(exp);
            prop_assert_eq!(written(f), python_float(f));
            prop_assert_eq!(written(-f), python_float(-f));
        }
    }
}
