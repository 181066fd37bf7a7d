//! The subsegment document and its datagram.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

/// The most one datagram may hold, header line included: the largest UDP payload over IPv4
/// (65,535 - 8 bytes of UDP header - 20 of IPv4 header).
pub(crate) const MAX_DATAGRAM: usize = 65_507;
const HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

/// X-Ray keeps at most 1,000 characters of an annotation value.
pub(crate) const MAX_ANNOTATION_CHARS: usize = 1_000;
/// A subsegment records at most this many exceptions; later ones are counted in the metadata
/// (`powertools.exceptions_not_recorded`).
pub(crate) const MAX_EXCEPTIONS: usize = 100;
/// How deeply a metadata value may nest.
pub(crate) const MAX_DEPTH: usize = 64;

/// The exception type of a panic in a `cause`.
pub(crate) const PANIC_TYPE: &str = "panic";
/// The metadata namespace of the notes this crate adds.
const NOTES: &str = "powertools";
const NOT_RECORDED: &str = "exceptions_not_recorded";

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

    /// Adds metadata under `namespace`. A value nested deeper than [`MAX_DEPTH`] levels is
    /// replaced by a note (serializing it would overflow the stack).
    pub(crate) fn put_metadata(&mut self, namespace: &str, key: &str, mut value: Value) {
        if depth_exceeds(&value, MAX_DEPTH) {
            value = Value::String(format!(
                "not recorded: the value is nested deeper than {MAX_DEPTH} levels"
            ));
        }
        self.metadata
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
    }

    /// Records a failure: `fault` (or `error` for a client error) with a cause. Past
    /// [`MAX_EXCEPTIONS`], the exception is only counted.
    pub(crate) fn record_exception(
        &mut self,
        mut message: String,
        kind: Option<String>,
        fault: bool,
    ) {
        if fault {
            self.fault = true;
        } else {
            self.error = true;
        }
        let cause = self.cause.get_or_insert_with(Cause::default);
        if cause.exceptions.len() >= MAX_EXCEPTIONS {
            let notes = self.metadata.entry(NOTES.to_owned()).or_default();
            let count = notes.get(NOT_RECORDED).and_then(Value::as_u64).unwrap_or(0);
            notes.insert(
                NOT_RECORDED.to_owned(),
                Value::from(count.saturating_add(1)),
            );
            return;
        }
        // Nothing longer could ever be sent.
        truncate_bytes(&mut message, MAX_DATAGRAM);
        cause.exceptions.push(Exception {
            id: new_id(),
            message,
            kind,
        });
    }

    /// The datagram for the daemon (header line + document), at most 65,507 bytes (one IPv4 UDP
    /// datagram). A document that does not fit is trimmed, least useful first, until it does:
    /// the metadata, long exception messages, exceptions past the 25th, long annotation
    /// values, long `aws`/`http` values, the `aws`/`http` blocks, exceptions past the 5th, the
    /// largest annotations, the `cause`; should that still not be enough, every annotation and
    /// at last the metadata. What was trimmed is said in the metadata (`powertools.trimmed`).
    /// `None` only if the document cannot be serialized, or its name, ids and times alone are
    /// too large (never for a subsegment this crate made).
    pub fn to_datagram(&self) -> Option<Vec<u8>> {
        let out = render(self)?;
        if out.len() <= MAX_DATAGRAM {
            return Some(out);
        }
        let original = out.len();
        let mut trimmed = self.clone();
        let mut removed: Vec<String> = Vec::new();
        let mut excess = original - MAX_DATAGRAM;
        for step in TRIM_STEPS.iter().chain(&LAST_RESORT) {
            // The note saying what was trimmed grows with each step: leave room for it.
            let Some(what) = step(&mut trimmed, excess.saturating_add(NOTE_ROOM)) else {
                continue;
            };
            removed.push(what);
            trimmed.put_metadata(
                NOTES,
                "trimmed",
                Value::String(format!(
                    "the document was {original} bytes, over the 65,507-byte limit of one UDP \
                     datagram; trimmed: {}",
                    removed.join(", ")
                )),
            );
            let out = render(&trimmed)?;
            if out.len() <= MAX_DATAGRAM {
                return Some(out);
            }
            excess = out.len() - MAX_DATAGRAM;
        }
        // Only the name, ids, times, flags and the notes are left: without the notes, it fits.
        trimmed.metadata.clear();
        render(&trimmed).filter(|out| out.len() <= MAX_DATAGRAM)
    }
}

fn render(subsegment: &Subsegment) -> Option<Vec<u8>> {
    let mut out = HEADER.to_vec();
    serde_json::to_writer(&mut out, subsegment)
        .ok()
        .map(|()| out)
}

/// One way of making a document smaller: returns what it removed, `None` if nothing. Gets how
/// many bytes are still too many.
type TrimStep = fn(&mut Subsegment, usize) -> Option<String>;

const TRIM_STEPS: [TrimStep; 9] = [
    trim_metadata,
    |s, _| shorten_exceptions(s, 1_024),
    |s, _| drop_exceptions_after(s, 25),
    trim_annotation_values,
    trim_blocks,
    drop_blocks,
    |s, _| {
        let dropped = drop_exceptions_after(s, 5);
        let shortened = shorten_exceptions(s, 256);
        dropped.or(shortened)
    },
    drop_largest_annotations,
    drop_cause,
];

/// More than the note on what was trimmed (`powertools.trimmed`, with its namespace) can
/// add to a document: a step freeing this much more than the excess leaves room for it.
const NOTE_ROOM: usize = 512;

/// When the steps were not enough: whatever of the annotations, blocks, cause and metadata is
/// left goes whole.
const LAST_RESORT: [TrimStep; 4] = [
    |s, _| {
        let count = s.annotations.len();
        s.annotations.clear();
        (count > 0).then(|| format!("the other {count} annotations"))
    },
    drop_blocks,
    drop_cause,
    |s, _| {
        let notes = s.metadata.get(NOTES).map(Map::len).unwrap_or(0);
        let had = s.metadata.len() > 1 || notes > 1;
        s.metadata.clear();
        had.then(|| "the rest of the metadata".to_owned())
    },
];

/// Removes the metadata, except the count of exceptions not recorded.
fn trim_metadata(s: &mut Subsegment, _excess: usize) -> Option<String> {
    if s.metadata.is_empty() {
        return None;
    }
    let not_recorded = s
        .metadata
        .get(NOTES)
        .and_then(|notes| notes.get(NOT_RECORDED))
        .and_then(Value::as_u64);
    s.metadata.clear();
    if let Some(count) = not_recorded {
        s.put_metadata(NOTES, NOT_RECORDED, Value::from(count));
    }
    Some("metadata".to_owned())
}

/// Cuts exception messages to `chars` characters and types to 200.
fn shorten_exceptions(s: &mut Subsegment, chars: usize) -> Option<String> {
    let mut changed = false;
    for exception in s.cause.iter_mut().flat_map(|c| c.exceptions.iter_mut()) {
        changed |= truncate_chars(&mut exception.message, chars);
        if let Some(kind) = &mut exception.kind {
            changed |= truncate_chars(kind, 200);
        }
    }
    changed.then(|| format!("exception messages over {chars} characters"))
}

/// Keeps the first `keep` exceptions.
fn drop_exceptions_after(s: &mut Subsegment, keep: usize) -> Option<String> {
    let cause = s.cause.as_mut()?;
    let dropped = cause
        .exceptions
        .len()
        .checked_sub(keep)
        .filter(|n| *n > 0)?;
    cause.exceptions.truncate(keep);
    Some(format!("{dropped} exceptions after the first {keep}"))
}

/// Cuts string annotation values to 250 characters.
fn trim_annotation_values(s: &mut Subsegment, _excess: usize) -> Option<String> {
    let mut changed = false;
    for value in s.annotations.values_mut() {
        if let Annotation::String(text) = value {
            changed |= truncate_chars(text, 250);
        }
    }
    changed.then(|| "annotation values over 250 characters".to_owned())
}

/// Cuts the strings of the `aws` and `http` blocks to 256 characters.
fn trim_blocks(s: &mut Subsegment, _excess: usize) -> Option<String> {
    let mut changed = false;
    let mut stack: Vec<&mut Value> = s.aws.iter_mut().flat_map(|aws| aws.values_mut()).collect();
    stack.extend(s.http.iter_mut());
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) => changed |= truncate_chars(text, 256),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(fields) => stack.extend(fields.values_mut()),
            _ => {}
        }
    }
    changed.then(|| "aws and http values over 256 characters".to_owned())
}

/// Removes the `aws` and `http` blocks.
fn drop_blocks(s: &mut Subsegment, _excess: usize) -> Option<String> {
    let had = s.aws.take().is_some() | s.http.take().is_some();
    had.then(|| "the aws and http blocks".to_owned())
}

/// Removes the largest annotations until `excess` bytes are gone.
fn drop_largest_annotations(s: &mut Subsegment, excess: usize) -> Option<String> {
    let mut sizes: Vec<(usize, String)> = s
        .annotations
        .iter()
        .map(|(key, value)| {
            let value = serde_json::to_string(value).map_or(0, |v| v.len());
            // "key":value, (quotes, colon and comma; escapes make the key longer, never shorter)
            (key.len() + value + 4, key.clone())
        })
        .collect();
    sizes.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    let mut freed = 0;
    let mut dropped = 0;
    for (size, key) in sizes {
        if freed >= excess {
            break;
        }
        s.annotations.remove(&key);
        freed += size;
        dropped += 1;
    }
    (dropped > 0).then(|| format!("the {dropped} largest annotations"))
}

/// Removes the `cause` (`fault`, `error` and `throttle` stay).
fn drop_cause(s: &mut Subsegment, _excess: usize) -> Option<String> {
    s.cause.take().map(|_| "the cause".to_owned())
}

/// Whether `value` nests deeper than `max` levels of arrays and objects (without recursion).
fn depth_exceeds(value: &Value, max: usize) -> bool {
    let mut stack = vec![(value, 0_usize)];
    while let Some((value, depth)) = stack.pop() {
        // A container at `depth` is level `depth + 1`.
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        if depth >= max {
            return true;
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// Cuts `text` to at most `max` characters; whether it was longer.
pub(crate) fn truncate_chars(text: &mut String, max: usize) -> bool {
    match text.char_indices().nth(max) {
        Some((end, _)) => {
            text.truncate(end);
            true
        }
        None => false,
    }
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate_bytes(text: &mut String, max: usize) {
    if text.len() > max {
        text.truncate(floor_char_boundary(text, max));
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
    fn oversized_documents_are_trimmed_to_one_datagram() {
        let mut s = Subsegment::start("## save", "1-5759e988-bd862e3fe1be46a994272793", None, 1.0);
        s.end_time = Some(2.0);
        s.put_metadata("orders", "payload", Value::String("x".repeat(100_000)));
        s.record_exception("y".repeat(100_000), None, true);
        let datagram = s.to_datagram().expect("trimmed, not dropped");
        assert!(
            !datagram.is_empty() && datagram.len() <= MAX_DATAGRAM,
            "{}",
            datagram.len()
        );
        let text = String::from_utf8_lossy(&datagram);
        assert!(
            text.contains("trimmed: metadata"),
            "{}",
            &text[..200.min(text.len())]
        );
    }

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn checked(s: &Subsegment) -> Value {
        let datagram = s.to_datagram();
        let datagram = datagram.expect("trimmed, not dropped");
        assert!(datagram.len() <= 65_507, "{} bytes", datagram.len());
        powertools_testing::xray::check_datagram(&datagram).unwrap()
    }

    fn ended(name: &str) -> Subsegment {
        let mut s = Subsegment::start(name, ROOT, Some("557abcec3ee5a047".into()), 1.0);
        s.end_time = Some(2.0);
        s
    }

    #[test]
    fn a_huge_annotation_set_directly_is_trimmed_not_dropped() {
        let mut s = ended("## big");
        s.annotations
            .insert("blob".into(), Annotation::String("x".repeat(200 * 1024)));
        s.annotations.insert("small".into(), Annotation::Int(7));
        let doc = checked(&s);
        assert_eq!(doc["annotations"]["small"], 7);
        assert!(doc["metadata"]["powertools"]["trimmed"].is_string());
    }

    /// 48 annotations of 250 control characters (about 1,500 bytes each once escaped): dropping
    /// the largest ones frees the excess, but the note saying so must fit as well. Key lengths
    /// vary the excess, so that some leave less room than the note takes.
    #[test]
    fn dropping_annotations_leaves_room_for_the_note() {
        for key_len in 1..=80 {
            let mut s = ended("## escape");
            for n in 0..48 {
                let key = format!("{n:02}{}", "k".repeat(key_len));
                s.annotations
                    .insert(key, Annotation::String("\u{1}".repeat(250)));
            }
            s.annotations.insert("Service".into(), "orders".into());
            let doc = checked(&s);
            assert_eq!(
                doc["annotations"]["Service"], "orders",
                "key length {key_len}"
            );
            assert!(
                doc["metadata"]["powertools"]["trimmed"]
                    .as_str()
                    .is_some_and(|note| note.contains("largest annotations")),
                "key length {key_len}: {doc}"
            );
        }
    }

    /// A document that only fits without the note on what was trimmed is sent without it.
    #[test]
    fn a_document_that_fits_only_without_the_note_is_sent() {
        let mut s = ended("");
        let base = render(&s).map_or(0, |out| out.len());
        s.name = "n".repeat(MAX_DATAGRAM - 10 - base);
        s.annotations
            .insert("blob".into(), Annotation::String("x".repeat(1_000)));
        let datagram = s.to_datagram();
        let datagram = datagram.expect("trimmed, not dropped");
        assert!(datagram.len() <= MAX_DATAGRAM, "{} bytes", datagram.len());
        let doc: Value = serde_json::from_slice(&datagram[HEADER.len()..]).unwrap();
        assert_eq!(doc["name"], s.name.as_str());
        assert_eq!(doc["id"], s.id.as_str());
        assert!(doc.get("annotations").is_none(), "{}", doc["annotations"]);
    }

    #[test]
    fn thousands_of_exceptions_set_directly_are_trimmed_not_dropped() {
        let mut s = ended("## many");
        s.fault = true;
        s.cause = Some(Cause {
            exceptions: (0..5_000)
                .map(|n| Exception {
                    id: new_id(),
                    message: format!("failure {n}"),
                    kind: Some("E".repeat(1_000)),
                })
                .collect(),
        });
        let doc = checked(&s);
        assert_eq!(doc["cause"]["exceptions"][0]["message"], "failure 0");
        assert_eq!(doc["fault"], true);
    }

    #[test]
    fn record_exception_keeps_the_first_hundred_and_counts_the_rest() {
        let mut s = ended("## errors");
        for n in 0..250 {
            s.record_exception(format!("e{n}"), None, n % 2 == 0);
        }
        let exceptions = s.cause.as_ref().map_or(0, |c| c.exceptions.len());
        assert_eq!(exceptions, MAX_EXCEPTIONS);
        assert_eq!(s.metadata[NOTES][NOT_RECORDED], 150);
        assert!(s.fault && s.error);
    }

    #[test]
    fn large_aws_and_http_blocks_are_trimmed() {
        let mut s = ended("DynamoDB");
        let mut aws = Map::new();
        aws.insert("operation".into(), "PutItem".into());
        aws.insert("table_name".into(), "t".repeat(100_000).into());
        s.aws = Some(aws);
        s.http = Some(serde_json::json!({"request": {"url": "u".repeat(100_000)}}));
        let doc = checked(&s);
        assert_eq!(doc["aws"]["operation"], "PutItem");
        assert_eq!(doc["aws"]["table_name"], "t".repeat(256));
    }

    #[test]
    fn depth_counts_arrays_and_objects() {
        let mut value = Value::from(1);
        for _ in 0..3 {
            value = serde_json::json!([{"a": value}]);
        }
        assert!(!depth_exceeds(&value, 6));
        assert!(depth_exceeds(&value, 5));
        assert!(depth_exceeds(&serde_json::json!([]), 0));
        assert!(!depth_exceeds(&serde_json::json!([]), 1));
        assert!(depth_exceeds(&serde_json::json!([[]]), 1));
        assert!(!depth_exceeds(&serde_json::json!([[]]), 2));
        assert!(!depth_exceeds(&serde_json::json!("text"), 0));
    }

    #[test]
    fn truncation_counts_characters() {
        let mut text = "é".repeat(5);
        assert!(truncate_chars(&mut text, 3));
        assert_eq!(text, "ééé");
        assert!(!truncate_chars(&mut text, 3));
        let mut bytes = "é".repeat(5);
        truncate_bytes(&mut bytes, 5);
        assert_eq!(bytes, "éé");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "\\PC{0,60}",
                "[\\x00-\\x1f\"\\\\]{0,4000}",
                (1usize..200_000).prop_map(|n| "v".repeat(n)),
                (1usize..30_000).prop_map(|n| "\u{1F600}".repeat(n)),
            ]
        }

        fn annotation() -> impl Strategy<Value = Annotation> {
            prop_oneof![
                // As `Tracer::annotate` leaves them: at most 1,000 characters.
                text().prop_map(|mut text| {
                    truncate_chars(&mut text, MAX_ANNOTATION_CHARS);
                    Annotation::String(text)
                }),
                any::<i64>().prop_map(Annotation::Int),
                any::<f64>()
                    .prop_filter("JSON numbers are finite", |f| f.is_finite())
                    .prop_map(Annotation::Float),
                any::<bool>().prop_map(Annotation::Bool),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]

            /// Whatever a subsegment holds (any name, up to 50 annotations with valid keys,
            /// metadata, exceptions, aws/http values), its datagram is sent, valid and within
            /// 65,507 bytes.
            #[test]
            fn every_document_fits_one_valid_datagram(
                name in "\\PC{0,400}",
                annotations in proptest::collection::btree_map(
                    "[A-Za-z0-9_]{1,500}", annotation(), 0..50),
                metadata in proptest::collection::vec((text(), text(), text()), 0..6),
                exceptions in proptest::collection::vec(
                    ("\\PC{0,80}", proptest::option::of("[A-Za-z_]{1,300}")), 0..300),
                long_exceptions in proptest::collection::vec(text(), 0..4),
                aws in proptest::option::of(text()),
            ) {
                let mut s = ended(&name);
                s.annotations = annotations;
                for (namespace, key, value) in metadata {
                    s.put_metadata(&namespace, &key, Value::String(value));
                }
                for (message, kind) in exceptions {
                    s.record_exception(message, kind, true);
                }
                for message in long_exceptions {
                    s.record_exception(message, None, false);
                }
                if let Some(value) = aws {
                    let mut block = Map::new();
                    block.insert("operation".into(), value.clone().into());
                    s.aws = Some(block);
                    s.http = Some(serde_json::json!({"response": {"status": 200}, "note": value}));
                }
                let datagram = s.to_datagram();
                prop_assert!(datagram.is_some(), "dropped");
                let datagram = datagram.unwrap();
                prop_assert!(datagram.len() <= 65_507, "{} bytes", datagram.len());
                let checked = powertools_testing::xray::check_datagram(&datagram);
                prop_assert!(checked.is_ok(), "{:?}", checked.err());
            }
        }
    }

    mod escaping {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// 45 to 49 annotations (X-Ray keeps 50) of up to 250 characters that JSON escapes
            /// as six bytes each, so that dropping the largest is the first trim: whatever the
            /// excess, the datagram is sent and within 65,507 bytes.
            #[test]
            fn escaping_heavy_annotations_fit_one_datagram(
                annotations in proptest::collection::btree_map(
                    "[A-Za-z0-9_]{1,60}", "[\\x00-\\x07\\x0b\\x0e-\\x1f]{245,250}", 45..48),
                small in proptest::collection::btree_map("[a-z]{1,8}", any::<i64>(), 0..3),
                metadata in proptest::option::weighted(0.2, "[\\x00-\\x1f]{0,400}"),
                fault in proptest::bool::weighted(0.2),
            ) {
                let mut s = ended("## escape");
                s.annotations = annotations
                    .into_iter()
                    .map(|(key, value)| (key, Annotation::String(value)))
                    .chain(small.into_iter().map(|(key, n)| (key, Annotation::Int(n))))
                    .collect();
                if let Some(value) = metadata {
                    s.put_metadata("orders", "note", Value::String(value));
                }
                if fault {
                    s.record_exception("failed".into(), None, true);
                }
                let datagram = s.to_datagram();
                prop_assert!(datagram.is_some(), "dropped");
                let datagram = datagram.unwrap();
                prop_assert!(datagram.len() <= MAX_DATAGRAM, "{} bytes", datagram.len());
                let checked = powertools_testing::xray::check_datagram(&datagram);
                prop_assert!(checked.is_ok(), "{:?}", checked.err());
            }
        }
    }

    #[test]
    fn names_are_capped_at_200_characters() {
        let s = Subsegment::start(&"n".repeat(300), "t", None, 1.0);
        assert_eq!(s.name.chars().count(), 200);
        assert_eq!(Subsegment::start("  ", "t", None, 1.0).name, "## unnamed");
    }
}
