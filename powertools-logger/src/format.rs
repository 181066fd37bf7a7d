//! Writing one value as JSON text: numbers JSON readers keep exactly, strings escaped,
//! structured values redacted and bounded in depth.

use serde_json::Value;

use crate::redaction::Redaction;
use crate::value::{FieldValue, MAX_JSON_DEPTH, deeper_than, too_deep_note};

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// An integer in decimal (through `serde_json`'s integer writer, cheaper than `Display`).
fn write_number(out: &mut Vec<u8>, n: impl serde::Serialize) {
    let _ = serde_json::to_writer(&mut *out, &n);
}

/// Writes a JSON value, redacted when redaction is on. A value nested deeper than
/// [`MAX_JSON_DEPTH`] is written as a note instead (writing it would recurse that deep and
/// few readers could parse it).
pub(crate) fn write_json_value(out: &mut Vec<u8>, value: &Value, redaction: &Redaction) {
    if deeper_than(value, MAX_JSON_DEPTH) {
        write_str(out, &too_deep_note());
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

pub(crate) fn write_value(out: &mut Vec<u8>, value: &FieldValue<'_>, redaction: &Redaction) {
    match value {
        FieldValue::Str(s) => write_str(out, s),
        FieldValue::I64(n) => write_number(out, n),
        FieldValue::U64(n) => write_number(out, n),
        // Beyond 64 bits a JSON number loses precision in most readers: write those as strings.
        FieldValue::I128(n) if i64::try_from(*n).is_ok() => write_number(out, n),
        FieldValue::U128(n) if u64::try_from(*n).is_ok() => write_number(out, n),
        FieldValue::I128(n) => write_str(out, &n.to_string()),
        FieldValue::U128(n) => write_str(out, &n.to_string()),
        FieldValue::F64(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        // NaN and infinities are not JSON numbers.
        FieldValue::F64(f) => write_str(out, &f.to_string()),
        FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        FieldValue::Raw(raw) => {
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
        FieldValue::Error(e) => {
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
        FieldValue::Json(v) => write_json_value(out, v, redaction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            write_value(&mut out, &value, &r);
            assert_eq!(String::from_utf8_lossy(&out), expected);
        }
    }
}
