//! Capturing `tracing` field values as JSON-ready values.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use serde::Serialize;
use serde_json::value::RawValue;
use tracing::field::{Field, Visit};

use crate::format::{Appended, AppendedValue, KeyNames, Redaction, write_value};

/// Longest string value written as is; longer ones are cut (on a character boundary) and say how
/// much was cut, so that a line stays well under CloudWatch's 256 KB event limit.
pub(crate) const MAX_STRING_BYTES: usize = 32 * 1024;
/// Largest structured value written as JSON; a larger one is written as a cut string.
pub(crate) const MAX_JSON_BYTES: usize = 128 * 1024;
/// Deepest nesting written as structured JSON: common JSON readers (serde_json, Logs Insights)
/// refuse much deeper documents, so a deeper value is written as a string.
pub(crate) const MAX_JSON_DEPTH: usize = 64;

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

thread_local! {
    /// Set by `Json`'s `Debug`/`Display` when it wrote valid JSON, read back by the visitor.
    static WROTE_JSON: Cell<bool> = const { Cell::new(false) };
}

/// Logs a value as structured JSON instead of a string.
///
/// ```
/// use powertools_logger::Json;
/// use serde_json::json;
///
/// let order = json!({"id": "o-1001", "items": 2});
/// tracing::info!(order = ?Json(&order), "order accepted");
/// // A structured message: the whole `message` is a JSON object.
/// tracing::info!(message = ?Json(&json!({"operation": "PutItem", "consumed": 1.0})));
/// ```
///
/// Outside this logger (another subscriber) it prints as compact JSON text.
pub struct Json<T>(pub T);

/// The text written instead of a value nested deeper than [`MAX_JSON_DEPTH`]: none of its
/// content, so nothing a redacted key holds.
pub(crate) fn too_deep_note() -> String {
    format!("<value nested deeper than {MAX_JSON_DEPTH} levels>")
}

/// A `serde_json` formatter that stops the serialization (with an error) when the value nests
/// deeper than [`MAX_JSON_DEPTH`]: the recursion of `Serialize` never goes further than that.
struct DepthLimit<'a> {
    depth: usize,
    too_deep: &'a Cell<bool>,
}

impl DepthLimit<'_> {
    fn enter(&mut self) -> std::io::Result<()> {
        self.depth += 1;
        if self.depth > MAX_JSON_DEPTH {
            self.too_deep.set(true);
            return Err(std::io::Error::other("value nested too deep"));
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for DepthLimit<'_> {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.enter()?;
        writer.write_all(b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        writer.write_all(b"]")
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.enter()?;
        writer.write_all(b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        writer.write_all(b"}")
    }
}

impl<T: Serialize> Json<T> {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let too_deep = Cell::new(false);
        let mut text = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(
            &mut text,
            DepthLimit {
                depth: 0,
                too_deep: &too_deep,
            },
        );
        match self.0.serialize(&mut serializer) {
            Ok(()) => {
                WROTE_JSON.with(|flag| flag.set(true));
                f.write_str(&String::from_utf8_lossy(&text))
            }
            Err(_) if too_deep.get() => f.write_str(&too_deep_note()),
            Err(error) => write!(f, "<value could not be serialized as JSON: {error}>"),
        }
    }
}

impl<T: Serialize> fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

impl<T: Serialize> fmt::Display for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// An error field: its type, message and the messages of its sources.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ErrorValue {
    pub(crate) name: String,
    pub(crate) message: String,
    pub(crate) chain: Vec<String>,
}

/// A captured field value.
#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Json(Box<RawValue>),
    Error(ErrorValue),
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

pub(crate) fn error_value(error: &(dyn std::error::Error + 'static)) -> ErrorValue {
    let mut chain = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if chain.len() >= 32 {
            break;
        }
        chain.push(cap_string(cause.to_string(), MAX_STRING_BYTES));
        source = cause.source();
    }
    ErrorValue {
        name: error_name(error),
        message: cap_string(error.to_string(), MAX_STRING_BYTES),
        chain,
    }
}

/// What a `Debug` value formatted into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Debugged {
    /// JSON written by a [`Json`] wrapper (valid, not too large, not too deep): written as is.
    Json,
    /// Text, written as a string.
    Text,
    /// Text holding JSON of a [`Json`] wrapper that cannot be written as is (too large, or
    /// inside another value's `Debug`): written as a string, redacted first.
    UncheckedJson,
}

/// Formats a `Debug` value into `text` and says what it is.
pub(crate) fn format_debug(value: &dyn fmt::Debug, text: &mut String) -> Debugged {
    text.clear();
    WROTE_JSON.with(|flag| flag.set(false));
    let _ = write!(text, "{value:?}");
    if !WROTE_JSON.with(|flag| flag.replace(false)) {
        return Debugged::Text;
    }
    if text.len() <= MAX_JSON_BYTES
        && raw_depth(text) <= MAX_JSON_DEPTH
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        Debugged::Json
    } else {
        Debugged::UncheckedJson
    }
}

/// Text with JSON that could not be written as JSON, made safe to write as a string: with the
/// redacted keys' values replaced, or, when it cannot be read to find them, none of it.
fn redacted_text(text: &str, redaction: &Redaction) -> String {
    if !redaction.is_active() {
        return text.to_owned();
    }
    if raw_depth(text) <= MAX_JSON_DEPTH
        && let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text)
    {
        redaction.apply(&mut value);
        return value.to_string();
    }
    // JSON inside another value's Debug: whether a redacted key is in it cannot be told
    // without parsing Debug output, so none of it is written.
    if raw_depth(text) > MAX_JSON_DEPTH {
        too_deep_note()
    } else {
        "<value not written: it embeds JSON inside another value, which redaction cannot check; log the Json value itself>".to_owned()
    }
}

/// Where a visited field goes: written into the line, or kept (span fields).
pub(crate) trait FieldSink {
    /// Receives one field (`message` included) as a borrowed value.
    fn put(&mut self, name: &'static str, value: AppendedValue<'_>);
    /// A reusable buffer for formatting `Debug` values.
    fn text(&mut self) -> &mut String;
    /// The keys to redact.
    fn redaction(&self) -> &Redaction;
}

/// Visits fields into a [`FieldSink`]: one place that turns every `tracing` value into JSON.
pub(crate) struct Visitor<S>(pub(crate) S);

impl<S: FieldSink> Visitor<S> {
    fn put(&mut self, field: &Field, value: AppendedValue<'_>) {
        let name = field.name();
        // `r#type` style raw identifiers arrive as "r#type".
        self.0.put(name.strip_prefix("r#").unwrap_or(name), value);
    }

    fn put_str(&mut self, field: &Field, value: &str) {
        if value.len() > MAX_STRING_BYTES {
            let capped = cap_string(value.to_owned(), MAX_STRING_BYTES);
            self.put(field, AppendedValue::Str(&capped));
        } else {
            self.put(field, AppendedValue::Str(value));
        }
    }
}

impl<S: FieldSink> Visit for Visitor<S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AppendedValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AppendedValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, AppendedValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, AppendedValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, AppendedValue::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AppendedValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_str(field, value);
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.put_str(field, &String::from_utf8_lossy(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let error = error_value(value);
        self.put(field, AppendedValue::Error(&error));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = std::mem::take(self.0.text());
        match format_debug(value, &mut text) {
            Debugged::Json => self.put(field, AppendedValue::Raw(&text)),
            Debugged::Text => self.put_str(field, &text),
            Debugged::UncheckedJson => {
                let safe = redacted_text(&text, self.0.redaction());
                self.put_str(field, &safe);
            }
        }
        *self.0.text() = text;
    }
}

/// Writes an event's fields straight into the line's appended keys, and its message into
/// `message` (as encoded JSON), without keeping them.
pub(crate) struct EventSink<'a> {
    pub(crate) appended: &'a mut Appended,
    pub(crate) message: &'a mut Vec<u8>,
    pub(crate) text: &'a mut String,
    pub(crate) names: &'a KeyNames,
    pub(crate) redaction: &'a Redaction,
}

impl FieldSink for EventSink<'_> {
    fn put(&mut self, name: &'static str, value: AppendedValue<'_>) {
        if name == "message" {
            self.message.clear();
            write_value(self.message, value, self.redaction);
        } else {
            self.appended.add(name, value, self.names, self.redaction);
        }
    }
    fn text(&mut self) -> &mut String {
        self.text
    }
    fn redaction(&self) -> &Redaction {
        self.redaction
    }
}

/// Keeps a span's fields (its `message`, if any, as a plain field).
#[derive(Debug)]
pub(crate) struct KeptFields<'a> {
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
    text: String,
    redaction: &'a Redaction,
}

impl<'a> KeptFields<'a> {
    pub(crate) fn new(redaction: &'a Redaction) -> Self {
        Self {
            fields: Vec::new(),
            text: String::new(),
            redaction,
        }
    }
}

impl FieldSink for KeptFields<'_> {
    fn put(&mut self, name: &'static str, value: AppendedValue<'_>) {
        let owned = match value {
            AppendedValue::Str(s) => FieldValue::Str(s.to_owned()),
            AppendedValue::Raw(raw) => match RawValue::from_string(raw.to_owned()) {
                Ok(raw) => FieldValue::Json(raw),
                Err(_) => FieldValue::Str(raw.to_owned()),
            },
            AppendedValue::I64(n) => FieldValue::I64(n),
            AppendedValue::U64(n) => FieldValue::U64(n),
            AppendedValue::I128(n) => FieldValue::I128(n),
            AppendedValue::U128(n) => FieldValue::U128(n),
            AppendedValue::F64(f) => FieldValue::F64(f),
            AppendedValue::Bool(b) => FieldValue::Bool(b),
            AppendedValue::Error(e) => FieldValue::Error(e.clone()),
            AppendedValue::Json(v) => FieldValue::Str(v.to_string()),
        };
        match self.fields.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = owned,
            None => self.fields.push((name, owned)),
        }
    }
    fn text(&mut self) -> &mut String {
        &mut self.text
    }
    fn redaction(&self) -> &Redaction {
        self.redaction
    }
}

#[cfg(test)]
impl PartialEq for FieldValue {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn json_wrapper_is_captured_as_json() {
        let mut text = String::new();
        let value = serde_json::json!({"a": [1, 2], "b": "x"});
        assert_eq!(format_debug(&Json(&value), &mut text), Debugged::Json);
        assert_eq!(text, r#"{"a":[1,2],"b":"x"}"#);
        // A plain Debug value stays a string, even one that looks like JSON.
        assert_eq!(format_debug(&"{\"a\":1}", &mut text), Debugged::Text);
        assert_eq!(text, "\"{\\\"a\\\":1}\"");
    }

    #[test]
    fn unserializable_json_becomes_a_message_not_a_panic() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no way"))
            }
        }
        let mut text = String::new();
        assert_eq!(format_debug(&Json(Bad), &mut text), Debugged::Text);
        assert!(
            text.contains("could not be serialized as JSON: no way"),
            "{text}"
        );
    }

    #[test]
    fn kept_span_fields_own_their_values() {
        let redaction = Redaction::default();
        let mut kept = KeptFields::new(&redaction);
        kept.put("order_id", AppendedValue::Str("o-1"));
        kept.put("doc", AppendedValue::Raw(r#"{"a":1}"#));
        kept.put("order_id", AppendedValue::U64(7));
        assert_eq!(kept.fields.len(), 2);
        assert!(matches!(kept.fields[0], ("order_id", FieldValue::U64(7))));
        assert!(
            matches!(&kept.fields[1], ("doc", FieldValue::Json(raw)) if raw.get() == r#"{"a":1}"#)
        );
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
        let value = error_value(&err);
        assert_eq!(value.name, "Outer");
        assert_eq!(value.message, "saving the order failed");
        assert_eq!(value.chain, ["connection reset"]);
    }
}
