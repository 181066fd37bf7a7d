//! A bounded cache of values with a time to live each, the least recently used evicted first.
//! The parameters client and the idempotency client's local cache both keep their values here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often a read also sweeps expired values out of memory.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Values by name, each until its time to live has passed (measured by the monotonic clock),
/// at most `capacity` of them: past it, the least recently used value goes. Shared between
/// threads (one lock).
///
/// A read is one lock, one hash lookup, one clock read and one reference count. The costlier
/// work runs on writes, which in the utilities follow a call to a backend: the sweep of expired
/// values out of memory (also done by a read at most once a second, and by [`TtlCache::len`])
/// and, past the capacity, a scan for the least recently used value.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use powertools_core::TtlCache;
///
/// let cache = TtlCache::new(2);
/// cache.insert("a", Arc::new(1), Duration::from_secs(60));
/// cache.insert("b", Arc::new(2), Duration::from_secs(60));
/// assert_eq!(cache.get("a").as_deref(), Some(&1)); // "b" is now the least recently used
/// cache.insert("c", Arc::new(3), Duration::from_secs(60));
/// assert!(cache.get("b").is_none());
/// cache.insert("d", Arc::new(4), Duration::ZERO); // expired at once
/// assert!(cache.get("d").is_none());
/// assert_eq!(cache.len(), 2);
/// ```
pub struct TtlCache<T> {
    map: Mutex<Map<T>>,
    capacity: usize,
}

impl<T> std::fmt::Debug for TtlCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

struct Map<T> {
    slots: HashMap<String, Slot<T>>,
    /// Increases at every use; the slot with the lowest `last_used` is evicted first.
    tick: u64,
    /// When a read next sweeps expired values (`None`: at the next read).
    next_sweep: Option<Instant>,
}

struct Slot<T> {
    value: Arc<T>,
    /// `None`: a time to live past what `Instant` can hold (never expires).
    expires_at: Option<Instant>,
    last_used: u64,
}

impl<T> Slot<T> {
    fn alive(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

impl<T> Map<T> {
    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    fn sweep(&mut self, now: Instant) {
        self.slots.retain(|_, slot| slot.alive(now));
        self.next_sweep = now.checked_add(SWEEP_EVERY);
    }
}

impl<T> TtlCache<T> {
    /// An empty cache holding at most `capacity` values (0: it holds nothing).
    pub fn new(capacity: u64) -> Self {
        Self {
            map: Mutex::new(Map {
                slots: HashMap::new(),
                tick: 0,
                next_sweep: None,
            }),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Map<T>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `name` while its time to live has not passed.
    pub fn get(&self, name: &str) -> Option<Arc<T>> {
        let now = Instant::now();
        let mut map = self.lock();
        if map.next_sweep.is_none_or(|at| now >= at) {
            map.sweep(now);
        }
        let tick = map.next_tick();
        let slot = map.slots.get_mut(name)?;
        if slot.alive(now) {
            slot.last_used = tick;
            return Some(Arc::clone(&slot.value));
        }
        map.slots.remove(name);
        None
    }

    /// Keeps `value` as `name`'s for `time_to_live` (any length: past what the clock can
    /// hold, for ever), evicting the least recently used values past the capacity.
    pub fn insert(&self, name: &str, value: Arc<T>, time_to_live: Duration) {
        let now = Instant::now();
        let mut map = self.lock();
        let slot = Slot {
            value,
            expires_at: now.checked_add(time_to_live),
            last_used: map.next_tick(),
        };
        match map.slots.get_mut(name) {
            Some(existing) => *existing = slot,
            None => {
                map.slots.insert(name.to_owned(), slot);
            }
        }
        map.sweep(now);
        while map.slots.len() > self.capacity {
            let oldest = map
                .slots
                .iter()
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(name, _)| name.clone());
            match oldest {
                Some(oldest) => {
                    map.slots.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Forgets `name`'s value.
    pub fn remove(&self, name: &str) {
        self.lock().slots.remove(name);
    }

    /// How many values are held, expired ones removed from memory first.
    pub fn len(&self) -> usize {
        let mut map = self.lock();
        map.sweep(Instant::now());
        map.slots.len()
    }

    /// Whether no value is held (expired ones removed first).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every value.
    pub fn clear(&self) {
        self.lock().slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_live_for_their_time_and_the_least_recently_used_go_first() {
        let cache = TtlCache::new(3);
        for name in ["a", "b", "c"] {
            cache.insert(name, Arc::new(name), Duration::from_secs(60));
        }
        // "a" used last: "b" is the least recently used when "d" comes in.
        assert_eq!(cache.get("a").as_deref(), Some(&"a"));
        cache.insert("d", Arc::new("d"), Duration::from_secs(60));
        assert_eq!(cache.len(), 3);
        assert!(cache.get("b").is_none());
        for name in ["a", "c", "d"] {
            assert_eq!(cache.get(name).as_deref(), Some(&name));
        }
        // Replacing a value keeps one slot.
        cache.insert("a", Arc::new("A"), Duration::from_secs(60));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("a").as_deref(), Some(&"A"));
        // A value past its time is gone, from reads and from memory.
        cache.insert("e", Arc::new("e"), Duration::ZERO);
        assert!(cache.get("e").is_none());
        assert!(cache.len() <= 3);
        // A time to live past `Instant`'s range never expires.
        cache.insert("f", Arc::new("f"), Duration::MAX);
        assert_eq!(cache.get("f").as_deref(), Some(&"f"));
        cache.remove("f");
        assert!(cache.get("f").is_none());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_capacity_of_zero_holds_nothing() {
        let cache = TtlCache::new(0);
        cache.insert("a", Arc::new(1), Duration::from_secs(60));
        assert_eq!(cache.len(), 0);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn expired_values_leave_memory_at_the_next_write() {
        let cache = TtlCache::new(8);
        cache.insert("short", Arc::new(1), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        cache.insert("other", Arc::new(2), Duration::from_secs(60));
        // Counted without `len` (which sweeps itself).
        assert_eq!(cache.lock().slots.len(), 1);
    }
}
