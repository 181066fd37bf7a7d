//! The X-Ray trace header, parsed leniently.
//!
//! Lambda hands each invocation a header such as
//! `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1`
//! (`Lambda-Runtime-Trace-Id`, exposed as `Context::xray_trace_id`). Fields may come in any
//! order, with spaces around them; `Lineage=` and unknown fields are ignored. A header without a
//! valid `Root` is an error, never a panic: tracing is then off for that invocation.

use std::fmt;
use std::str::FromStr;

/// Whether the trace is sampled (`Sampled=` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// `Sampled=1`: record and send subsegments.
    Sampled,
    /// `Sampled=0`: send nothing.
    NotSampled,
    /// `Sampled=?` or no field: the decision was deferred downstream.
    Requested,
}

/// A parsed X-Ray trace header.
///
/// ```
/// use powertools_core::{Sampling, TraceHeader};
///
/// let header: TraceHeader =
///     "Sampled=1; Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Lineage=a:1"
///         .parse()
///         .unwrap();
/// assert_eq!(header.root(), "1-5759e988-bd862e3fe1be46a994272793");
/// assert_eq!(header.parent(), Some("557abcec3ee5a047"));
/// assert_eq!(header.sampling(), Sampling::Sampled);
/// assert!("Parent=557abcec3ee5a047".parse::<TraceHeader>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    root: String,
    parent: Option<String>,
    sampling: Sampling,
}

/// Why a trace header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceHeaderError {
    /// No `Root=` field.
    #[error("trace header has no Root field")]
    MissingRoot,
    /// `Root=` is not `1-<8 hex>-<24 hex>`.
    #[error("trace header Root {0:?} is not of the form 1-<8 hex digits>-<24 hex digits>")]
    InvalidRoot(String),
    /// `Parent=` is not 16 hex digits.
    #[error("trace header Parent {0:?} is not 16 hex digits")]
    InvalidParent(String),
    /// `Sampled=` is not `0`, `1` or `?`.
    #[error("trace header Sampled {0:?} is not 0, 1 or ?")]
    InvalidSampled(String),
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_root(root: &str) -> bool {
    let mut parts = root.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(time), Some(id), None) if is_hex(time, 8) && is_hex(id, 24)
    )
}

impl TraceHeader {
    /// Parses a header; see the module docs for what is accepted.
    pub fn parse(header: &str) -> Result<Self, TraceHeaderError> {
        let mut root = None;
        let mut parent = None;
        let mut sampling = Sampling::Requested;
        for field in header.split(';') {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "Root" => {
                    if !valid_root(value) {
                        return Err(TraceHeaderError::InvalidRoot(value.to_owned()));
                    }
                    root = Some(value.to_ascii_lowercase());
                }
                "Parent" => {
                    if !is_hex(value, 16) {
                        return Err(TraceHeaderError::InvalidParent(value.to_owned()));
                    }
                    parent = Some(value.to_ascii_lowercase());
                }
                "Sampled" => {
                    sampling = match value {
                        "1" => Sampling::Sampled,
                        "0" => Sampling::NotSampled,
                        "?" | "" => Sampling::Requested,
                        other => return Err(TraceHeaderError::InvalidSampled(other.to_owned())),
                    };
                }
                _ => {}
            }
        }
        let root = root.ok_or(TraceHeaderError::MissingRoot)?;
        Ok(Self {
            root,
            parent,
            sampling,
        })
    }

    /// The trace id, `1-<epoch seconds hex>-<96-bit hex>`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The id of the parent segment, when present.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    /// The sampling decision.
    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// Whether subsegments should be recorded and sent.
    pub fn is_sampled(&self) -> bool {
        self.sampling == Sampling::Sampled
    }
}

impl FromStr for TraceHeader {
    type Err = TraceHeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TraceHeader {
    /// Writes the canonical header: `Root=...;Parent=...;Sampled=...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root={}", self.root)?;
        if let Some(parent) = &self.parent {
            write!(f, ";Parent={parent}")?;
        }
        match self.sampling {
            Sampling::Sampled => write!(f, ";Sampled=1"),
            Sampling::NotSampled => write!(f, ";Sampled=0"),
            Sampling::Requested => write!(f, ";Sampled=?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn parses_the_canonical_header() {
        let h = TraceHeader::parse(&format!("Root={ROOT};Parent=557abcec3ee5a047;Sampled=1"));
        let h = h.unwrap();
        assert_eq!(h.root(), ROOT);
        assert_eq!(h.parent(), Some("557abcec3ee5a047"));
        assert_eq!(h.sampling(), Sampling::Sampled);
        assert!(h.is_sampled());
    }

    #[test]
    fn fields_in_any_order_with_spaces_lineage_and_unknown_fields() {
        let h = TraceHeader::parse(&format!(
            " Lineage=a87bd80c:1|68fd508a:5 ; Sampled=0;Foo=bar; Parent=557ABCEC3EE5A047 ;Root={ROOT};;"
        ));
        let h = h.unwrap();
        assert_eq!(h.root(), ROOT);
        assert_eq!(h.parent(), Some("557abcec3ee5a047"));
        assert_eq!(h.sampling(), Sampling::NotSampled);
    }

    #[test]
    fn missing_optional_fields() {
        let h = TraceHeader::parse(&format!("Root={ROOT}")).unwrap();
        assert_eq!(h.parent(), None);
        assert_eq!(h.sampling(), Sampling::Requested);
        assert!(!h.is_sampled());
        let h = TraceHeader::parse(&format!("Root={ROOT};Sampled=?"));
        assert_eq!(h.map(|h| h.sampling()), Ok(Sampling::Requested));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let cases: &[(&str, TraceHeaderError)] = &[
            ("", TraceHeaderError::MissingRoot),
            ("garbage", TraceHeaderError::MissingRoot),
            (";;;===;", TraceHeaderError::MissingRoot),
            (
                "Parent=557abcec3ee5a047;Sampled=1",
                TraceHeaderError::MissingRoot,
            ),
            ("Root=", TraceHeaderError::InvalidRoot(String::new())),
            (
                "Root=1-zz59e988-bd862e3fe1be46a994272793",
                TraceHeaderError::InvalidRoot("1-zz59e988-bd862e3fe1be46a994272793".into()),
            ),
            (
                "Root=2-5759e988-bd862e3fe1be46a994272793",
                TraceHeaderError::InvalidRoot("2-5759e988-bd862e3fe1be46a994272793".into()),
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a99427279",
                TraceHeaderError::InvalidRoot("1-5759e988-bd862e3fe1be46a99427279".into()),
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793-00",
                TraceHeaderError::InvalidRoot("1-5759e988-bd862e3fe1be46a994272793-00".into()),
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz",
                TraceHeaderError::InvalidParent("xyz".into()),
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=yes",
                TraceHeaderError::InvalidSampled("yes".into()),
            ),
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793é;",
                TraceHeaderError::InvalidRoot("1-5759e988-bd862e3fe1be46a994272793é".into()),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(TraceHeader::parse(raw).as_ref(), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic sweep over short strings built from the header's alphabet.
        let alphabet = [
            "Root", "=", ";", "1", "-", "Parent", "Sampled", "0", "a", " ", "é", "?",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            state = state.wrapping_add(1);
            let _ = TraceHeader::parse(&s);
        }
    }

    #[test]
    fn display_round_trips() {
        let raw = format!("Root={ROOT};Parent=557abcec3ee5a047;Sampled=1");
        let h = TraceHeader::parse(&raw).unwrap();
        assert_eq!(h.to_string(), raw);
        assert_eq!(TraceHeader::parse(&h.to_string()), Ok(h));
    }
}
