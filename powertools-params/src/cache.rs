//! The bounded cache behind [`Parameters`](crate::Parameters): one lock over a map, the least
//! recently used value evicted past the capacity, a value removed from memory once its time to
//! live has passed (by the monotonic clock), and one fetch per name at a time.
//!
//! A hit is one lock, one hash lookup, one clock read and one reference count: no maintenance
//! queue, no second structure to keep in order. The costlier work runs on writes, which follow a
//! fetch from the backend: the sweep of expired values (also on a read at most once a second,
//! and on [`TtlCache::len`]) and the eviction scan (at most `capacity` slots).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often a read also sweeps expired values out of memory.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Values by name, each until its time to live has passed, at most `capacity` of them.
pub(crate) struct TtlCache<T> {
    map: Mutex<Map<T>>,
    capacity: usize,
}

struct Map<T> {
    slots: HashMap<String, Slot<T>>,
    /// Increases at every use; the slot with the lowest `last_used` is evicted first.
    tick: u64,
    /// When a read next sweeps expired values (`None`: at the next read).
    next_sweep: Option<Instant>,
    /// The lock of each name being fetched, shared by every caller fetching it meanwhile.
    fetching: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
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
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            map: Mutex::new(Map {
                slots: HashMap::new(),
                tick: 0,
                next_sweep: None,
                fetching: HashMap::new(),
            }),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Map<T>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `name` while its time to live has not passed.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<T>> {
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

    /// Keeps `value` as `name`'s for `time_to_live`, evicting the least recently used values
    /// past the capacity.
    pub(crate) fn insert(&self, name: &str, value: Arc<T>, time_to_live: Duration) {
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

    /// How many values are held, expired ones removed first.
    pub(crate) fn len(&self) -> usize {
        let mut map = self.lock();
        map.sweep(Instant::now());
        map.slots.len()
    }

    /// Forgets every value.
    pub(crate) fn clear(&self) {
        self.lock().slots.clear();
    }

    /// Waits until no other caller is fetching `name`; the fetch is this caller's while the
    /// returned guard lives.
    pub(crate) async fn fetching(&self, name: &str) -> FetchGuard<'_, T> {
        let lock = {
            let mut map = self.lock();
            match map.fetching.get(name) {
                Some(lock) => Arc::clone(lock),
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.fetching.insert(name.to_owned(), Arc::clone(&lock));
                    lock
                }
            }
        };
        let guard = Arc::clone(&lock).lock_owned().await;
        FetchGuard {
            cache: self,
            name: name.to_owned(),
            lock,
            guard: Some(guard),
        }
    }
}

/// One caller's turn to fetch a name (see [`TtlCache::fetching`]). Dropped, also when the
/// fetch is cancelled, it lets the next caller in, and forgets the name's lock once no caller
/// holds it.
pub(crate) struct FetchGuard<'a, T> {
    cache: &'a TtlCache<T>,
    name: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<T> Drop for FetchGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.cache.lock();
        // Held by the map and by this guard alone: no caller waits (they clone it under the
        // same lock).
        if Arc::strong_count(&self.lock) == 2
            && map
                .fetching
                .get(&self.name)
                .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            map.fetching.remove(&self.name);
        }
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
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_capacity_of_zero_holds_nothing() {
        let cache = TtlCache::new(0);
        cache.insert("a", Arc::new(1), Duration::from_secs(60));
        assert_eq!(cache.len(), 0);
        assert!(cache.get("a").is_none());
    }

    #[tokio::test]
    async fn a_name_s_fetch_lock_is_shared_while_held_and_forgotten_after() {
        let cache: TtlCache<u8> = TtlCache::new(8);
        let first = cache.fetching("a").await;
        // Another name is not held up.
        drop(cache.fetching("b").await);
        let waiter = cache.fetching("a");
        tokio::pin!(waiter);
        assert!(
            futures_poll_once(waiter.as_mut()).await.is_none(),
            "a second fetch of the same name waits"
        );
        drop(first);
        let second = waiter.await;
        drop(second);
        assert!(cache.lock().fetching.is_empty());
    }

    /// Polls `future` once: `Some` if it was ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        let mut future = future;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
