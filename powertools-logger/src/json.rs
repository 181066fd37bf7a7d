//! [`Json`]: logging any `Serialize` value as structured JSON, and telling a `Debug` value
//! that is such JSON from plain text.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::value::{MAX_JSON_BYTES, MAX_JSON_DEPTH, raw_depth, too_deep_note};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
