//! The one fast hash the utilities use for short keys.

use std::hash::Hasher;

/// FNV-1a, 64-bit: a fast, stable, non-cryptographic hash for short keys (the logger's and
/// the metrics client's duplicate checks, handle maps). Not for untrusted keys of unbounded
/// number (no protection against collisions chosen by an attacker).
///
/// ```
/// use powertools_core::Fnv1a;
/// use std::hash::Hasher;
///
/// let mut parts = Fnv1a::default();
/// parts.write(b"extra_");
/// parts.write(b"level");
/// assert_eq!(parts.finish(), Fnv1a::hash(b"extra_level"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// The hash of `bytes`.
    pub fn hash(bytes: &[u8]) -> u64 {
        let mut hasher = Self::default();
        hasher.write(bytes);
        hasher.finish()
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // The published FNV-1a 64 test values.
        assert_eq!(Fnv1a::hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a::hash(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
