//! The subsegment document and its datagram.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

/// A datagram must stay under this size (header included).
pub(crate) const MAX_DATAGRAM: usize = 64 * 1024 - 1;
const HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

/// An annotation value: indexed by X-Ray, so only strings, numbers and booleans.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Annotation {
    /// A string.
    String(String),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for Annotation {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}
impl From<String> for Annotation {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}
impl From<bool> for Annotation {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}
impl From<i64> for Annotation {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}
impl From<f64> for Annotation {
    fn from(n: f64) -> Self {
        Self::Float(n)
    }
}

/// One exception in a `cause`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exception {
    /// 16 hex digits.
    pub id: String,
    /// The error's message.
    pub message: String,
    /// The error's type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Why a subsegment failed.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Cause {
    /// The exceptions.
    pub exceptions: Vec<Exception>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An X-Ray subsegment, as sent to the daemon. Sinks receive it structured, so that another
/// exporter (OpenTelemetry, say) can map it without parsing JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Subsegment {
    /// Always `subsegment`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its name, 1 to 200 characters.
    pub name: String,
    /// 16 lowercase hex digits.
    pub id: String,
    /// The trace (the header's `Root`).
    pub trace_id: String,
    /// The parent segment or subsegment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Epoch seconds.
    pub start_time: f64,
    /// Epoch seconds, once ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    /// `aws` for AWS SDK calls, `remote` for other downstream calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'static str>,
    /// Indexed key-values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Annotation>,
    /// Namespaced, non-indexed values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Map<String, Value>>,
    /// A client error (4xx).
    #[serde(skip_serializing_if = "is_false")]
    pub error: bool,
    /// Throttled (429).
    #[serde(skip_serializing_if = "is_false")]
    pub throttle: bool,
    /// A server error or a failed handler.
    #[serde(skip_serializing_if = "is_false")]
    pub fault: bool,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The `aws` block of SDK calls (operation, region, request_id, table_name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<Map<String, Value>>,
    /// The `http` block (response status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Value>,
}

impl Subsegment {
    /// A new, open subsegment.
    pub(crate) fn start(
        name: &str,
        trace_id: &str,
        parent_id: Option<String>,
        start_time: f64,
    ) -> Self {
        Self {
            kind: "subsegment",
            name: clean_name(name),
            id: new_id(),
            trace_id: trace_id.to_owned(),
            parent_id,
            start_time,
            end_time: None,
            namespace: None,
            annotations: BTreeMap::new(),
            metadata: BTreeMap::new(),
            error: false,
            throttle: false,
            fault: false,
            cause: None,
            aws: None,
            http: None,
        }
    }

    /// Adds metadata under `namespace`.
    pub(crate) fn put_metadata(&mut self, namespace: &str, key: &str, value: Value) {
        self.metadata
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
    }

    /// Records a failure: `fault` (or `error` for a client error) with a cause.
    pub(crate) fn record_exception(&mut self, message: String, kind: Option<String>, fault: bool) {
        if fault {
            self.fault = true;
        } else {
            self.error = true;
        }
        self.cause
            .get_or_insert_with(Cause::default)
            .exceptions
            .push(Exception {
                id: new_id(),
                message,
                kind,
            });
    }

    /// The datagram for the daemon (header line + document), under 64 KB: metadata, then
    /// exception messages, are trimmed to fit. `None` if even that cannot fit.
    pub fn to_datagram(&self) -> Option<Vec<u8>> {
        let render = |s: &Subsegment| {
            let mut out = HEADER.to_vec();
            serde_json::to_writer(&mut out, s).ok().map(|()| out)
        };
        let out = render(self)?;
        if out.len() <= MAX_DATAGRAM {
            return Some(out);
        }
        let mut trimmed = self.clone();
        trimmed.metadata.clear();
        trimmed.put_metadata(
            "powertools",
            "trimmed",
            Value::String(format!(
                "metadata removed: the document was {} bytes, over the 64 KB datagram limit",
                out.len()
            )),
        );
        let out = render(&trimmed)?;
        if out.len() <= MAX_DATAGRAM {
            return Some(out);
        }
        if let Some(cause) = &mut trimmed.cause {
            for exception in &mut cause.exceptions {
                exception
                    .message
                    .truncate(floor_char_boundary(&exception.message, 1_024));
            }
        }
        let out = render(&trimmed)?;
        (out.len() <= MAX_DATAGRAM).then_some(out)
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Names are 1 to 200 characters.
fn clean_name(name: &str) -> String {
    let name = if name.trim().is_empty() {
        "## unnamed"
    } else {
        name
    };
    name.chars().take(200).collect()
}

/// Epoch seconds with sub-millisecond precision.
pub(crate) fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// 16 lowercase hex digits (64 random bits).
pub(crate) fn new_id() -> String {
    format!("{:016x}", powertools_core::random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_16_hex_and_distinct() {
        let a = new_id();
        assert_eq!(a.len(), 16);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, new_id());
    }

    #[test]
    fn oversized_documents_are_trimmed_under_64_kb() {
        let mut s = Subsegment::start("## save", "1-5759e988-bd862e3fe1be46a994272793", None, 1.0);
        s.end_time = Some(2.0);
        s.put_metadata("orders", "payload", Value::String("x".repeat(100_000)));
        s.record_exception("y".repeat(100_000), None, true);
        let datagram = s.to_datagram().unwrap_or_default();
        assert!(
            !datagram.is_empty() && datagram.len() <= MAX_DATAGRAM,
            "{}",
            datagram.len()
        );
        let text = String::from_utf8_lossy(&datagram);
        assert!(
            text.contains("metadata removed"),
            "{}",
            &text[..200.min(text.len())]
        );
    }

    #[test]
    fn names_are_capped_at_200_characters() {
        let s = Subsegment::start(&"n".repeat(300), "t", None, 1.0);
        assert_eq!(s.name.chars().count(), 200);
        assert_eq!(Subsegment::start("  ", "t", None, 1.0).name, "## unnamed");
    }
}
