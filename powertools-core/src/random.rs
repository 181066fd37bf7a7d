//! Random bits for ids and sampling, without a random-number dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Process-wide seed mixed into every draw; replaced by [`reseed`].
static SEED: AtomicU64 = AtomicU64::new(0);

/// 64 random bits (SipHash keyed per call by the standard library's random state, over the
/// process seed, a counter and the clock). Not cryptographic: for subsegment ids and sampling
/// draws.
///
/// The standard library's keys are drawn once per thread and the counter lives in memory, so
/// both are copied into every SnapStart clone restored from one snapshot; the seed is not,
/// because the first invocation of each process (or restored clone) replaces it with fresh
/// entropy from the operating system (see [`crate::ColdStart::take`]).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(SEED.load(Ordering::Relaxed));
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// Replaces the process seed with fresh entropy from the operating system: `/dev/urandom`, or
/// the standard library's keys of a new thread (drawn from the operating system when the
/// thread starts) where that file cannot be read. Never panics.
pub(crate) fn reseed() {
    SEED.store(os_entropy(), Ordering::Relaxed);
}

fn os_entropy() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_le_bytes(bytes);
    }
    std::thread::Builder::new()
        .spawn(|| RandomState::new().build_hasher().finish())
        .ok()
        .and_then(|thread| thread.join().ok())
        .unwrap_or_else(random_u64)
}

/// A number in `[0, 1)` from [`random_u64`] (53 bits).
pub fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseeding_draws_a_fresh_seed_from_the_operating_system() {
        let seeds: Vec<u64> = (0..16)
            .map(|_| {
                reseed();
                SEED.load(Ordering::Relaxed)
            })
            .collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len(), "{seeds:?}");

        // (One test: both halves write the process seed.)
        let flag = crate::ColdStart::new();
        SEED.store(7, Ordering::Relaxed);
        flag.take(&crate::InitializationType::SnapStart);
        // Other tests reseed concurrently, but only ever to fresh random values, never to 7.
        assert_ne!(
            SEED.load(Ordering::Relaxed),
            7,
            "a restored clone keeps the snapshot's seed"
        );
    }

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
