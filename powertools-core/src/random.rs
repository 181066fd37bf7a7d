//! Random bits for ids and sampling, without a random-number dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 64 random bits (SipHash keyed per call by the standard library's random state, over a
/// counter and the clock). Not cryptographic: for subsegment ids and sampling draws.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A number in `[0, 1)` from [`random_u64`] (53 bits).
pub fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_units_stay_in_range() {
        let draws: Vec<u64> = (0..1_000).map(|_| random_u64()).collect();
        let mut unique = draws.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), draws.len());
        let units: Vec<f64> = (0..10_000).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        // Roughly uniform: both halves are well represented.
        let low = units.iter().filter(|u| **u < 0.5).count();
        assert!((4_000..6_000).contains(&low), "{low}");
    }
}
