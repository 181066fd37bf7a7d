//! Random-looking identifiers for requests and traces.

use std::time::{SystemTime, UNIX_EPOCH};

use powertools_core::random_u64;

/// A request id shaped like Lambda's (a UUID v4).
pub(crate) fn request_id() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A sampled X-Ray trace header with a fresh root and parent.
pub(crate) fn sampled_trace_header() -> String {
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let high = random_u64();
    let low = random_u64();
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=1",
        epoch & 0xffff_ffff,
        high >> 32,
        low,
        random_u64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn trace_headers_are_well_formed() {
        let h = sampled_trace_header();
        let root = h
            .split(';')
            .next()
            .and_then(|f| f.strip_prefix("Root="))
            .unwrap_or("");
        let parts: Vec<usize> = root.split('-').map(str::len).collect();
        assert_eq!(parts, [1, 8, 24]);
        assert!(h.ends_with(";Sampled=1"));
    }
}
