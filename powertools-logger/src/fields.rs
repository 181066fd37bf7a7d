//! Visiting `tracing` fields: every field value becomes one [`FieldValue`], written into the
//! line (an event's fields) or kept (a span's).

use std::borrow::Cow;
use std::fmt;

use tracing::field::{Field, Visit};

use crate::appended::Appended;
use crate::format::write_value;
use crate::json::{Debugged, format_debug};
use crate::keys::KeyNames;
use crate::redaction::{Redaction, redacted_text};
use crate::value::{ErrorValue, FieldValue, MAX_STRING_BYTES, cap_string};

/// Where a visited field goes: written into the line, or kept (span fields).
pub(crate) trait FieldSink {
    /// Receives one field (`message` included) as a borrowed value.
    fn put(&mut self, name: &'static str, value: FieldValue<'_>);
    /// A reusable buffer for formatting `Debug` values.
    fn text(&mut self) -> &mut String;
    /// The keys to redact.
    fn redaction(&self) -> &Redaction;
}

/// The prefix of span fields the tracer records as X-Ray annotations (`annotation.customer`).
const ANNOTATION_PREFIX: &str = "annotation.";

/// The key a field is written under: raw identifiers (`r#type`) without `r#`, and the tracer's
/// annotation fields (`annotation.customer`) under their own name (`customer`), so a query on
/// the key finds the value whether or not it is also an annotation.
fn key_of(name: &'static str) -> &'static str {
    let name = name.strip_prefix("r#").unwrap_or(name);
    match name.strip_prefix(ANNOTATION_PREFIX) {
        Some(key) if !key.is_empty() => key,
        _ => name,
    }
}

/// Visits fields into a [`FieldSink`]: one place that turns every `tracing` value into JSON.
pub(crate) struct Visitor<S>(pub(crate) S);

impl<S: FieldSink> Visitor<S> {
    fn put(&mut self, field: &Field, value: FieldValue<'_>) {
        self.0.put(key_of(field.name()), value);
    }

    fn put_str(&mut self, field: &Field, value: &str) {
        let value = if value.len() > MAX_STRING_BYTES {
            Cow::Owned(cap_string(value.to_owned(), MAX_STRING_BYTES))
        } else {
            Cow::Borrowed(value)
        };
        self.put(field, FieldValue::Str(value));
    }
}

impl<S: FieldSink> Visit for Visitor<S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, FieldValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, FieldValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, FieldValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, FieldValue::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_str(field, value);
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.put_str(field, &String::from_utf8_lossy(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let error = ErrorValue::of(value);
        self.put(field, FieldValue::Error(Cow::Owned(error)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = std::mem::take(self.0.text());
        match format_debug(value, &mut text) {
            Debugged::Json => self.put(field, FieldValue::Raw(Cow::Borrowed(&text))),
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
    fn put(&mut self, name: &'static str, value: FieldValue<'_>) {
        if name == "message" {
            self.message.clear();
            write_value(self.message, &value, self.redaction);
        } else {
            self.appended.add(name, &value, self.names, self.redaction);
        }
    }
    fn text(&mut self) -> &mut String {
        self.text
    }
    fn redaction(&self) -> &Redaction {
        self.redaction
    }
}

/// Sets the kept field `name`: replaced in place if present, else added last.
pub(crate) fn keep_field(
    fields: &mut Vec<(&'static str, FieldValue<'static>)>,
    name: &'static str,
    value: FieldValue<'static>,
) {
    match fields.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => fields.push((name, value)),
    }
}

/// Keeps a span's fields (its `message`, if any, as a plain field).
#[derive(Debug)]
pub(crate) struct KeptFields<'a> {
    pub(crate) fields: Vec<(&'static str, FieldValue<'static>)>,
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
    fn put(&mut self, name: &'static str, value: FieldValue<'_>) {
        keep_field(&mut self.fields, name, value.into_owned());
    }
    fn text(&mut self) -> &mut String {
        &mut self.text
    }
    fn redaction(&self) -> &Redaction {
        self.redaction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_drop_raw_identifier_and_annotation_prefixes() {
        assert_eq!(key_of("r#type"), "type");
        assert_eq!(key_of("annotation.customer"), "customer");
        assert_eq!(key_of("annotation."), "annotation.");
        assert_eq!(key_of("order_id"), "order_id");
        assert_eq!(key_of("metadata.items"), "metadata.items");
    }

    #[test]
    fn kept_span_fields_own_their_values() {
        let redaction = Redaction::default();
        let mut kept = KeptFields::new(&redaction);
        kept.put("order_id", FieldValue::Str(Cow::Borrowed("o-1")));
        kept.put("doc", FieldValue::Raw(Cow::Borrowed(r#"{"a":1}"#)));
        kept.put("order_id", FieldValue::U64(7));
        assert_eq!(kept.fields.len(), 2);
        assert!(matches!(kept.fields[0], ("order_id", FieldValue::U64(7))));
        assert!(
            matches!(&kept.fields[1], ("doc", FieldValue::Raw(Cow::Owned(raw))) if raw == r#"{"a":1}"#)
        );
    }
}
