//! The keys appended after the standard ones: fields, span fields, invocation and
//! process-wide keys, each written once, the most specific source first.

use crate::format::{write_str, write_value};
use crate::keys::KeyNames;
use crate::redaction::{REDACTED, Redaction};
use crate::value::FieldValue;

/// The prefix of a field or appended key named like a standard key.
const RESERVED_PREFIX: &str = "extra_";

/// The hash of `prefix` followed by `key`.
fn hash_parts(prefix: &str, key: &str) -> u64 {
    // Keys are short and this only guards against writing a key twice.
    let mut hasher = powertools_core::Fnv1a::default();
    std::hash::Hasher::write(&mut hasher, prefix.as_bytes());
    std::hash::Hasher::write(&mut hasher, key.as_bytes());
    std::hash::Hasher::finish(&hasher)
}

/// Collects the appended keys (most specific source first), skipping keys already written.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub(crate) out: Vec<u8>,
    seen: Vec<u64>,
}

impl Appended {
    pub(crate) fn clear(&mut self) {
        self.out.clear();
        self.seen.clear();
    }

    /// Adds `key` unless a more specific source already did. A key named like a standard key
    /// is written as `extra_<key>`: the standard keys always keep their real values.
    pub(crate) fn add(
        &mut self,
        key: &str,
        value: &FieldValue<'_>,
        names: &KeyNames,
        redaction: &Redaction,
    ) {
        let reserved = names.is_reserved(key);
        // Deduplicate on the name written, so `extra_level` is written once whichever source
        // used it.
        let h = if reserved {
            hash_parts(RESERVED_PREFIX, key)
        } else {
            hash_parts("", key)
        };
        if self.seen.contains(&h) {
            return;
        }
        self.seen.push(h);
        self.out.push(b',');
        let start = self.out.len();
        write_str(&mut self.out, key);
        if reserved {
            // After the opening quote.
            self.out
                .splice(start + 1..start + 1, RESERVED_PREFIX.bytes());
        }
        self.out.push(b':');
        if redaction.matches(key) {
            write_str(&mut self.out, REDACTED);
            return;
        }
        write_value(&mut self.out, value, redaction);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn appended_keys_are_written_once_most_specific_first() {
        let names = KeyNames::default();
        let r = Redaction::default();
        let mut a = Appended::default();
        let str = |s: &'static str| FieldValue::Str(Cow::Borrowed(s));
        a.add("order_id", &str("from-event"), &names, &r);
        a.add("order_id", &str("from-span"), &names, &r);
        a.add("level", &str("shadow"), &names, &r);
        assert_eq!(
            String::from_utf8_lossy(&a.out),
            r#","order_id":"from-event","extra_level":"shadow""#
        );
    }
}
