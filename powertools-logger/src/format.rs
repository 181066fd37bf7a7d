//! Writing one log line: the standard keys in the specified order, then the appended keys.

use serde_json::Value;
use tracing::Level;

use crate::fields::{ErrorValue, FieldValue, MAX_JSON_DEPTH};

/// The standard keys, in line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Level,
    Location,
    Message,
    Timestamp,
    Service,
    ColdStart,
    FunctionName,
    FunctionMemorySize,
    FunctionArn,
    FunctionRequestId,
    TenantId,
    XrayTraceId,
    CorrelationId,
    SamplingRate,
}

pub(crate) const KEYS: [(Key, &str); 14] = [
    (Key::Level, "level"),
    (Key::Location, "location"),
    (Key::Message, "message"),
    (Key::Timestamp, "timestamp"),
    (Key::Service, "service"),
    (Key::ColdStart, "cold_start"),
    (Key::FunctionName, "function_name"),
    (Key::FunctionMemorySize, "function_memory_size"),
    (Key::FunctionArn, "function_arn"),
    (Key::FunctionRequestId, "function_request_id"),
    (Key::TenantId, "tenant_id"),
    (Key::XrayTraceId, "xray_trace_id"),
    (Key::CorrelationId, "correlation_id"),
    (Key::SamplingRate, "sampling_rate"),
];

/// The names written for the standard keys (renamable).
#[derive(Debug, Clone)]
pub(crate) struct KeyNames {
    names: [String; 14],
}

impl Default for KeyNames {
    fn default() -> Self {
        Self {
            names: KEYS.map(|(_, name)| name.to_owned()),
        }
    }
}

impl KeyNames {
    pub(crate) fn get(&self, key: Key) -> &str {
        &self.names[key as usize]
    }

    /// Renames the standard key called `from`; `false` if there is no such key.
    pub(crate) fn rename(&mut self, from: &str, to: &str) -> bool {
        match KEYS.iter().find(|(_, name)| *name == from) {
            Some((key, _)) => {
                self.names[*key as usize] = to.to_owned();
                true
            }
            None => false,
        }
    }

    /// Keys a field or appended key may not take over: every standard key, under the name it
    /// is written with.
    fn is_reserved(&self, name: &str) -> bool {
        self.names.iter().any(|n| !n.is_empty() && n == name)
    }
}

/// The prefix of a field or appended key named like a standard key.
const RESERVED_PREFIX: &str = "extra_";

/// The hash of `prefix` followed by `key`.
fn hash_parts(prefix: &str, key: &str) -> u64 {
    // FNV-1a: keys are short and this only guards against writing a key twice.
    prefix
        .bytes()
        .chain(key.bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// Redaction of configured keys, at any depth.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redaction {
    keys: Vec<String>,
}

pub(crate) const REDACTED: &str = "*****";

impl Redaction {
    pub(crate) fn new(keys: impl IntoIterator<Item = String>) -> Self {
        let mut keys: Vec<String> = keys.into_iter().map(|k| k.to_ascii_lowercase()).collect();
        keys.sort();
        keys.dedup();
        Self { keys }
    }

    pub(crate) fn is_active(&self) -> bool {
        !self.keys.is_empty()
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        self.is_active() && self.keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Redacts matching keys inside `value`, in place (iteratively: no recursion limit).
    pub(crate) fn apply(&self, value: &mut Value) {
        if !self.is_active() {
            return;
        }
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(map) => {
                    for (k, child) in map.iter_mut() {
                        if self.matches(k) {
                            *child = Value::String(REDACTED.to_owned());
                        } else {
                            stack.push(child);
                        }
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                _ => {}
            }
        }
    }
}

/// Writes a JSON value, redacted when redaction is on. A value nested deeper than
/// [`MAX_JSON_DEPTH`] is written as a note instead (writing it would recurse that deep and
/// few readers could parse it).
pub(crate) fn write_json_value(out: &mut Vec<u8>, value: &Value, redaction: &Redaction) {
    if crate::fields::deeper_than(value, MAX_JSON_DEPTH) {
        write_str(out, &crate::fields::too_deep_note());
        return;
    }
    if redaction.is_active() {
        let mut copy = value.clone();
        redaction.apply(&mut copy);
        let _ = serde_json::to_writer(&mut *out, &copy);
    } else {
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

/// A value to write, borrowed from wherever it was captured.
#[derive(Clone, Copy)]
pub(crate) enum AppendedValue<'a> {
    Str(&'a str),
    /// Text already checked to be valid JSON.
    Raw(&'a str),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Error(&'a ErrorValue),
    Json(&'a Value),
}

impl<'a> AppendedValue<'a> {
    pub(crate) fn from_field(value: &'a FieldValue) -> Self {
        match value {
            FieldValue::Str(s) => Self::Str(s),
            FieldValue::I64(n) => Self::I64(*n),
            FieldValue::U64(n) => Self::U64(*n),
            FieldValue::I128(n) => Self::I128(*n),
            FieldValue::U128(n) => Self::U128(*n),
            FieldValue::F64(f) => Self::F64(*f),
            FieldValue::Bool(b) => Self::Bool(*b),
            FieldValue::Json(raw) => Self::Raw(raw.get()),
            FieldValue::Error(e) => Self::Error(e),
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = write!(out, "{n}");
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: AppendedValue<'_>, redaction: &Redaction) {
    match value {
        AppendedValue::Str(s) => write_str(out, s),
        AppendedValue::I64(n) => write_number(out, n),
        AppendedValue::U64(n) => write_number(out, n),
        // Beyond 64 bits a JSON number loses precision in most readers: write those as strings.
        AppendedValue::I128(n) if i64::try_from(n).is_ok() => write_number(out, n),
        AppendedValue::U128(n) if u64::try_from(n).is_ok() => write_number(out, n),
        AppendedValue::I128(n) => write_str(out, &n.to_string()),
        AppendedValue::U128(n) => write_str(out, &n.to_string()),
        AppendedValue::F64(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, &f);
        }
        // NaN and infinities are not JSON numbers.
        AppendedValue::F64(f) => write_str(out, &f.to_string()),
        AppendedValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        AppendedValue::Raw(raw) => {
            if redaction.is_active() {
                match serde_json::from_str::<Value>(raw) {
                    Ok(value) => write_json_value(out, &value, redaction),
                    // Checked JSON always parses; if not, write none of it rather than an
                    // unredacted copy.
                    Err(_) => write_str(out, "<value could not be checked for redaction>"),
                }
            } else {
                out.extend_from_slice(raw.as_bytes());
            }
        }
        AppendedValue::Error(e) => {
            out.extend_from_slice(b"{\"name\":");
            write_str(out, &e.name);
            out.extend_from_slice(b",\"message\":");
            write_str(out, &e.message);
            out.extend_from_slice(b",\"chain\":[");
            for (i, cause) in e.chain.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, cause);
            }
            out.extend_from_slice(b"]}");
        }
        AppendedValue::Json(v) => write_json_value(out, v, redaction),
    }
}

#[cfg(test)]
pub(crate) fn write_field_value(out: &mut Vec<u8>, value: &FieldValue, redaction: &Redaction) {
    write_value(out, AppendedValue::from_field(value), redaction);
}

/// Collects the appended keys (most specific source first), skipping keys already written.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub(crate) out: Vec<u8>,
    seen: Vec<u64>,
}

impl Appended {
    pub(crate) fn clear(&mut self) {
        self.out.clear();
        self.seen.clear();
    }

    /// Adds `key` unless a more specific source already did. A key named like a standard key
    /// is written as `extra_<key>`: the standard keys always keep their real values.
    pub(crate) fn add(
        &mut self,
        key: &str,
        value: AppendedValue<'_>,
        names: &KeyNames,
        redaction: &Redaction,
    ) {
        let reserved = names.is_reserved(key);
        // Deduplicate on the name written, so `extra_level` is written once whichever source
        // used it.
        let h = if reserved {
            hash_parts(RESERVED_PREFIX, key)
        } else {
            hash_parts("", key)
        };
        if self.seen.contains(&h) {
            return;
        }
        self.seen.push(h);
        self.out.push(b',');
        let start = self.out.len();
        write_str(&mut self.out, key);
        if reserved {
            // After the opening quote.
            self.out
                .splice(start + 1..start + 1, RESERVED_PREFIX.bytes());
        }
        self.out.push(b':');
        if redaction.matches(key) {
            write_str(&mut self.out, REDACTED);
            return;
        }
        write_value(&mut self.out, value, redaction);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_reaches_any_depth_and_ignores_case() {
        let r = Redaction::new(["password".to_owned(), "Authorization".to_owned()]);
        let mut v =
            json!({"user": {"Password": "p", "list": [{"authorization": "Bearer x"}]}, "ok": 1});
        r.apply(&mut v);
        assert_eq!(
            v,
            json!({"user": {"Password": REDACTED, "list": [{"authorization": REDACTED}]}, "ok": 1})
        );
    }

    #[test]
    fn redaction_of_deeply_nested_values_does_not_overflow() {
        let mut v = Value::String("leaf".into());
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        Redaction::new(["x".to_owned()]).apply(&mut v);
        // Drop iteratively too: serde_json's recursive drop would overflow on such a value.
        let mut stack = vec![v];
        while let Some(mut value) = stack.pop() {
            if let Value::Array(items) = &mut value {
                stack.append(items);
            }
        }
    }

    #[test]
    fn appended_keys_are_written_once_most_specific_first() {
        let names = KeyNames::default();
        let r = Redaction::default();
        let mut a = Appended::default();
        a.add("order_id", AppendedValue::Str("from-event"), &names, &r);
        a.add("order_id", AppendedValue::Str("from-span"), &names, &r);
        a.add("level", AppendedValue::Str("shadow"), &names, &r);
        assert_eq!(
            String::from_utf8_lossy(&a.out),
            r#","order_id":"from-event","extra_level":"shadow""#
        );
    }

    #[test]
    fn non_finite_and_wide_numbers_stay_valid_json() {
        let r = Redaction::default();
        for (value, expected) in [
            (FieldValue::F64(f64::NAN), "\"NaN\""),
            (FieldValue::F64(f64::INFINITY), "\"inf\""),
            (FieldValue::F64(1.5), "1.5"),
            (
                FieldValue::U128(u128::MAX),
                "\"340282366920938463463374607431768211455\"",
            ),
            (FieldValue::I128(-5), "-5"),
        ] {
            let mut out = Vec::new();
            write_field_value(&mut out, &value, &r);
            assert_eq!(String::from_utf8_lossy(&out), expected);
        }
    }
}
