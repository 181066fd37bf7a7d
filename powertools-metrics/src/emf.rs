//! Serializing a metric set as one or more EMF blobs, each within every EMF limit.

use serde_json::Value;

use crate::unit::{Resolution, Unit};

/// Metrics per blob.
pub(crate) const MAX_METRICS: usize = 100;
/// Values per metric per blob.
pub(crate) const MAX_VALUES: usize = 100;
/// Dimension keys per dimension set (including `service`).
pub(crate) const MAX_DIMENSIONS: usize = 30;
/// A CloudWatch log event's size limit.
pub(crate) const MAX_BLOB_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Metric {
    /// A hash of `name`, compared before the name itself when looking a metric up.
    pub(crate) key: u64,
    pub(crate) name: MetricName,
    pub(crate) unit: Unit,
    pub(crate) resolution: Resolution,
    /// Most metrics have one value per blob: it is kept inline, without an allocation.
    pub(crate) values: Values,
}

/// A metric's values in a blob.
pub(crate) type Values = smallvec::SmallVec<[f64; 1]>;

/// Names up to this many bytes are kept inline.
const INLINE_NAME: usize = 22;

/// A metric's name, kept inline when short (most are), so that adding a metric to a set
/// allocates nothing for its name.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct MetricName(NameRepr);

#[derive(Clone, PartialEq, Eq)]
enum NameRepr {
    /// The first `len` bytes are the name's UTF-8.
    Inline {
        len: u8,
        bytes: [u8; INLINE_NAME],
    },
    Heap(Box<str>),
}

impl MetricName {
    pub(crate) fn new(name: &str) -> Self {
        match (u8::try_from(name.len()), name.len() <= INLINE_NAME) {
            (Ok(len), true) => {
                let mut bytes = [0; INLINE_NAME];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Self(NameRepr::Inline { len, bytes })
            }
            _ => Self(NameRepr::Heap(name.into())),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            NameRepr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            NameRepr::Heap(name) => name.as_bytes(),
        }
    }

    /// The name's length in bytes.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            NameRepr::Inline { len, .. } => usize::from(*len),
            NameRepr::Heap(name) => name.len(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            // Copied from a `&str` whole: always valid UTF-8.
            NameRepr::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            NameRepr::Heap(name) => name,
        }
    }
}

impl std::ops::Deref for MetricName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for MetricName {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for MetricName {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What one blob carries besides its metrics.
#[derive(Debug)]
pub(crate) struct BlobContext<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) timestamp_ms: u64,
    /// The dimension sets, each a list of keys.
    pub(crate) dimension_sets: &'a [Vec<&'a str>],
    /// Every dimension's value, once.
    pub(crate) dimension_values: &'a [(&'a str, &'a str)],
    pub(crate) metadata: &'a [(String, Value)],
    /// The root member `level` (for Lambda's log-level filtering), when configured.
    pub(crate) level: Option<&'a str>,
}

/// FNV-1a of a metric name: cheap, and only a shortcut before comparing the names themselves.
pub(crate) fn name_key(name: &str) -> u64 {
    powertools_core::Fnv1a::hash(name.as_bytes())
}

/// Writes a finite value as `serde_json` does (`1.0`, not `1`), whole numbers (most metric
/// values: counts, milliseconds, bytes) through the integer writer, which is cheaper.
pub(crate) fn write_value(out: &mut Vec<u8>, value: f64) {
    // Below 10^15 `serde_json` writes a whole number as its digits and `.0`; -0.0 keeps its
    // sign through the float writer.
    const WHOLE_BELOW: f64 = 1e15;
    if value.fract() == 0.0
        && value.abs() < WHOLE_BELOW
        && !(value == 0.0 && value.is_sign_negative())
    {
        // Exact: a whole number below 10^15 fits an `i64`.
        #[allow(clippy::cast_possible_truncation)]
        let whole = value as i64;
        let _ = serde_json::to_writer(&mut *out, &whole);
        out.extend_from_slice(b".0");
    } else {
        let _ = serde_json::to_writer(&mut *out, &value);
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_json_string(out, s.as_bytes());
}

/// Writes `utf8` (the bytes of a `&str`) as a JSON string, escaped exactly as `serde_json`
/// escapes it: `"` and `\` and control characters; every other byte is copied, so valid UTF-8
/// in gives valid UTF-8 out.
fn write_json_string(out: &mut Vec<u8>, utf8: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    for (i, &byte) in utf8.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(utf8.get(start..i).unwrap_or_default());
        start = i + 1;
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(utf8.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Writes one blob (with its trailing newline) for `metrics`.
pub(crate) fn write_blob(
    out: &mut Vec<u8>,
    ctx: &BlobContext<'_>,
    metrics: &[&Metric],
    with_metadata: bool,
) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"_aws\":{\"Timestamp\":");
    let _ = write!(out, "{}", ctx.timestamp_ms);
    out.extend_from_slice(b",\"CloudWatchMetrics\":[{\"Namespace\":");
    write_str(out, ctx.namespace);
    out.extend_from_slice(b",\"Dimensions\":[");
    for (i, set) in ctx.dimension_sets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (j, key) in set.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_str(out, key);
        }
        out.push(b']');
    }
    out.extend_from_slice(b"],\"Metrics\":[");
    for (i, metric) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Name\":");
        write_json_string(out, metric.name.as_bytes());
        out.extend_from_slice(b",\"Unit\":");
        write_str(out, metric.unit.as_str());
        if metric.resolution == Resolution::High {
            out.extend_from_slice(b",\"StorageResolution\":1");
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}]}");
    if let Some(level) = ctx.level {
        out.extend_from_slice(b",\"level\":");
        write_str(out, level);
    }
    for (key, value) in ctx.dimension_values {
        out.push(b',');
        write_str(out, key);
        out.push(b':');
        write_str(out, value);
    }
    for metric in metrics {
        out.push(b',');
        write_json_string(out, metric.name.as_bytes());
        out.extend_from_slice(b":[");
        // Values are validated finite; write them as JSON numbers (1.0, not 1).
        let mut separator: &[u8] = b"";
        for value in &metric.values {
            out.extend_from_slice(separator);
            separator = b",";
            write_value(out, *value);
        }
        out.push(b']');
    }
    if with_metadata {
        for (key, value) in ctx.metadata {
            out.push(b',');
            write_str(out, key);
            out.push(b':');
            let _ = serde_json::to_writer(&mut *out, value);
        }
    }
    out.extend_from_slice(b"}\n");
}

/// Writes `metrics` as as many blobs as the limits require, each to `emit`: at most
/// [`MAX_METRICS`] metrics and [`MAX_VALUES`] values per metric per blob, and under
/// [`MAX_BLOB_BYTES`] (halving the metrics of a blob that would be larger; when the metadata
/// does not fit beside even one metric, it is left out of the remaining blobs, with a warning).
pub(crate) fn write_blobs(ctx: &BlobContext<'_>, metrics: &[Metric], emit: &mut dyn FnMut(&[u8])) {
    // Room for the whole blob at once (growing it would copy it several times): each metric's
    // name twice, its definition, its values, and the directive, dimensions and metadata.
    let estimate = metrics.iter().fold(1024, |bytes, m| {
        bytes + 2 * m.name.len() + 64 + 24 * m.values.len().min(MAX_VALUES)
    });
    let mut out = Vec::with_capacity(estimate.min(crate::emf::MAX_BLOB_BYTES));
    let mut with_metadata = true;
    if metrics.iter().all(|m| m.values.len() <= MAX_VALUES) {
        // The common case: no metric needs its values split, so nothing is copied.
        for group in metrics.chunks(MAX_METRICS) {
            let refs: Vec<&Metric> = group.iter().collect();
            write_within_size(ctx, &refs, &mut out, emit, &mut with_metadata);
        }
        return;
    }
    // Split metrics with more than MAX_VALUES values into chunks, one chunk per blob round.
    let mut rounds: Vec<Vec<Metric>> = Vec::new();
    for metric in metrics {
        for (round, chunk) in metric.values.chunks(MAX_VALUES).enumerate() {
            if rounds.len() <= round {
                rounds.push(Vec::new());
            }
            rounds[round].push(Metric {
                values: Values::from_slice(chunk),
                ..metric.clone()
            });
        }
    }
    for round in &rounds {
        for group in round.chunks(MAX_METRICS) {
            let refs: Vec<&Metric> = group.iter().collect();
            write_within_size(ctx, &refs, &mut out, emit, &mut with_metadata);
        }
    }
}

fn write_within_size(
    ctx: &BlobContext<'_>,
    metrics: &[&Metric],
    out: &mut Vec<u8>,
    emit: &mut dyn FnMut(&[u8]),
    with_metadata: &mut bool,
) {
    out.clear();
    write_blob(out, ctx, metrics, *with_metadata);
    if out.len() <= MAX_BLOB_BYTES {
        emit(out);
        return;
    }
    if metrics.len() > 1 {
        let (left, right) = metrics.split_at(metrics.len() / 2);
        write_within_size(ctx, left, out, emit, with_metadata);
        write_within_size(ctx, right, out, emit, with_metadata);
        return;
    }
    // The metadata does not fit beside one metric: leave it out of this blob and the next ones
    // (rather than serializing it again for every metric).
    let had_metadata = std::mem::replace(with_metadata, false);
    out.clear();
    write_blob(out, ctx, metrics, false);
    let name = metrics.first().map(|m| m.name.as_str()).unwrap_or_default();
    if out.len() > MAX_BLOB_BYTES {
        // Not reached: the client refuses dimensions that leave no room for one metric. Never
        // write a blob CloudWatch would drop.
        powertools_core::warn(format_args!(
            "EMF blob for metric {name:?} not written: its dimensions alone exceed CloudWatch's 256 KB event limit"
        ));
        return;
    }
    if had_metadata {
        powertools_core::warn(format_args!(
            "metadata left out of the EMF blobs from metric {name:?} on: with it a blob would exceed CloudWatch's 256 KB event limit"
        ));
    }
    emit(out);
}

#[cfg(test)]
mod tests {
    use super::write_value;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(text in any::<String>()) {
            let mut ours = Vec::new();
            super::write_json_string(&mut ours, text.as_bytes());
            let theirs = serde_json::to_vec(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
            let name = super::MetricName::new(&text);
            prop_assert_eq!(name.len(), text.len());
        }
    }

    #[test]
    fn every_control_character_is_escaped_as_serde_json_escapes_it() {
        let text: String = (0u8..0x80).map(char::from).collect::<String>() + "é名\u{7f}";
        let mut ours = Vec::new();
        super::write_json_string(&mut ours, text.as_bytes());
        assert_eq!(ours, serde_json::to_vec(&text).unwrap());
    }

    fn same_as_serde_json(value: f64) -> Result<(), TestCaseError> {
        let mut ours = Vec::new();
        write_value(&mut ours, value);
        let theirs = serde_json::to_vec(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
        Ok(())
    }

    #[test]
    fn names_short_and_long_read_back_whole() {
        for name in [
            "",
            "a",
            "OrderAccepted",
            "é".repeat(11).as_str(),
            &"x".repeat(22),
            &"x".repeat(23),
            &"名".repeat(85),
        ] {
            let kept = super::MetricName::new(name);
            assert_eq!(kept.as_str(), name);
            assert!(kept == *name && kept == name);
            assert_eq!(format!("{kept:?}"), format!("{name:?}"));
        }
        assert!(super::MetricName::new("ab") != "abc");
    }

    #[test]
    fn values_at_the_edges_are_written_as_serde_json_writes_them() {
        for value in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e15,
            -1e15,
            999_999_999_999_999.0,
            -999_999_999_999_999.0,
            1e16,
            9_007_199_254_740_993.0,
            1e300,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
        ] {
            assert!(same_as_serde_json(value).is_ok(), "{value}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, .. ProptestConfig::default() })]

        #[test]
        fn whole_values_are_written_as_serde_json_writes_them(whole in any::<i64>(), shift in 0_u32..64) {
            // Whole numbers of every size, most below 10^15.
            same_as_serde_json((whole >> shift) as f64)?;
        }

        #[test]
        fn any_finite_value_is_written_as_serde_json_writes_it(value in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            same_as_serde_json(value)?;
        }
    }
}
