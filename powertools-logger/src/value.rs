//! The one model of a value the logger writes: borrowed while an event's line is built, owned
//! when a span keeps it, written the same way either way. The limits every written value
//! obeys live here too.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest string value written as is; longer ones are cut (on a character boundary) and say how
/// much was cut, so that a line stays well under CloudWatch's 256 KB event limit.
pub(crate) const MAX_STRING_BYTES: usize = 32 * 1024;
/// Largest structured value written as JSON; a larger one is written as a cut string.
pub(crate) const MAX_JSON_BYTES: usize = 128 * 1024;
/// Deepest nesting written as structured JSON: common JSON readers (serde_json, Logs Insights)
/// refuse much deeper documents, so a deeper value is written as a string.
pub(crate) const MAX_JSON_DEPTH: usize = 64;

/// An error field: its type, message and the messages of its sources.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ErrorValue {
    pub(crate) name: String,
    pub(crate) message: String,
    pub(crate) chain: Vec<String>,
}

impl ErrorValue {
    /// The error's type name, message and source chain (each cut to [`MAX_STRING_BYTES`]).
    pub(crate) fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            if chain.len() >= 32 {
                break;
            }
            chain.push(cap_string(cause.to_string(), MAX_STRING_BYTES));
            source = cause.source();
        }
        Self {
            name: error_name(error),
            message: cap_string(error.to_string(), MAX_STRING_BYTES),
            chain,
        }
    }

    /// A handler's panic, as an error named `Panic`.
    pub(crate) fn panic(message: &str) -> Self {
        Self {
            name: "Panic".to_owned(),
            message: cap_string(message.to_owned(), MAX_STRING_BYTES),
            chain: Vec::new(),
        }
    }
}

/// The type name of an error, from its `Debug` form (`Timeout { .. }` → `Timeout`,
/// `ParseIntError { kind: .. }` → `ParseIntError`); `Error` when that gives nothing usable.
fn error_name(error: &(dyn std::error::Error + 'static)) -> String {
    let debug = format!("{error:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        "Error".to_owned()
    } else {
        name
    }
}

/// A value to write: a field of an event (borrowed), of a span (owned, `FieldValue<'static>`),
/// an appended key, or a standard key's number.
#[derive(Debug, Clone)]
pub(crate) enum FieldValue<'a> {
    Str(Cow<'a, str>),
    /// Text already checked to be valid JSON.
    Raw(Cow<'a, str>),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Error(Cow<'a, ErrorValue>),
    Json(Cow<'a, serde_json::Value>),
}

impl FieldValue<'_> {
    /// The same value, owning what it borrowed (a span keeps it beyond the call).
    pub(crate) fn into_owned(self) -> FieldValue<'static> {
        match self {
            Self::Str(s) => FieldValue::Str(Cow::Owned(s.into_owned())),
            Self::Raw(s) => FieldValue::Raw(Cow::Owned(s.into_owned())),
            Self::I64(n) => FieldValue::I64(n),
            Self::U64(n) => FieldValue::U64(n),
            Self::I128(n) => FieldValue::I128(n),
            Self::U128(n) => FieldValue::U128(n),
            Self::F64(f) => FieldValue::F64(f),
            Self::Bool(b) => FieldValue::Bool(b),
            Self::Error(e) => FieldValue::Error(Cow::Owned(e.into_owned())),
            Self::Json(v) => FieldValue::Json(Cow::Owned(v.into_owned())),
        }
    }
}

#[cfg(test)]
impl PartialEq for FieldValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, saying how much was cut.
pub(crate) fn cap_string(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut = s.len() - end;
    s.truncate(end);
    let _ = write!(s, "…[truncated {cut} bytes]");
    s
}

/// The nesting depth of JSON text (brackets outside strings).
pub(crate) fn raw_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Whether `value` nests deeper than `limit` (checked without recursion).
pub(crate) fn deeper_than(value: &serde_json::Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match v {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// The text written instead of a value nested deeper than [`MAX_JSON_DEPTH`]: none of its
/// content, so nothing a redacted key holds.
pub(crate) fn too_deep_note() -> String {
    format!("<value nested deeper than {MAX_JSON_DEPTH} levels>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[test]
    fn depth_of_json_text_and_values() {
        assert_eq!(raw_depth("1"), 0);
        assert_eq!(raw_depth(r#"{"a":[1,{"b":"[[[[\\"]]"}]}"#), 3);
        let mut v = serde_json::Value::Null;
        for _ in 0..10 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert!(!deeper_than(&v, 10));
        assert!(deeper_than(&v, 9));
    }

    #[test]
    fn caps_long_strings_on_char_boundaries() {
        let s = "é".repeat(10); // 20 bytes
        let capped = cap_string(s, 5);
        assert!(capped.starts_with("éé"), "{capped}");
        assert!(capped.ends_with("…[truncated 16 bytes]"), "{capped}");
        assert_eq!(cap_string("short".into(), 5), "short");
    }

    #[test]
    fn errors_keep_their_source_chain() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("saving the order failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::other("connection reset"));
        let value = ErrorValue::of(&err);
        assert_eq!(value.name, "Outer");
        assert_eq!(value.message, "saving the order failed");
        assert_eq!(value.chain, ["connection reset"]);
    }

    #[test]
    fn an_owned_value_is_the_same_value() {
        let text = String::from("o-1");
        let borrowed = FieldValue::Str(Cow::Borrowed(&text));
        let owned = borrowed.clone().into_owned();
        drop(text);
        assert!(matches!(owned, FieldValue::Str(Cow::Owned(ref s)) if s == "o-1"));
    }
}
