//! What the logger keeps per invocation, in the invocation's own scope.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock};

use powertools_core::Invocation;
use serde_json::Value;

use crate::buffer::Buffer;

/// Per-invocation logger state, stored in the invocation's extensions: it vanishes with the
/// invocation and is never shared with a concurrent one.
#[derive(Debug, Default)]
pub(crate) struct InvocationLog {
    /// Whether this invocation logs at DEBUG because of sampling (decided once, on first use).
    sampled: OnceLock<bool>,
    pub(crate) keys: Mutex<Vec<(String, Value)>>,
    pub(crate) correlation_id: Mutex<Option<String>>,
    /// Reached only through the methods below, which never return holding its lock.
    buffer: Mutex<Buffer>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sets `key` in `keys`: replaced in place if present (keeping its position), else added last.
pub(crate) fn set_key(keys: &mut Vec<(String, Value)>, key: String, value: Value) {
    match keys.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => keys.push((key, value)),
    }
}

impl InvocationLog {
    /// The state of `invocation`, created on first use.
    pub(crate) fn of(invocation: &Invocation) -> std::sync::Arc<Self> {
        invocation.extensions().get_or_insert_with(Self::default)
    }

    /// Adds (or replaces) a key of this invocation.
    pub(crate) fn append_key(&self, key: String, value: Value) {
        set_key(&mut lock(&self.keys), key, value);
    }

    /// Removes a key of this invocation.
    pub(crate) fn remove_key(&self, key: &str) {
        lock(&self.keys).retain(|(k, _)| k != key);
    }

    /// Sets the correlation id of this invocation.
    pub(crate) fn set_correlation_id(&self, id: String) {
        *lock(&self.correlation_id) = Some(id);
    }

    /// The correlation id of this invocation, if any.
    pub(crate) fn correlation_id(&self) -> Option<String> {
        lock(&self.correlation_id).clone()
    }

    /// Takes the lines held in this invocation's buffer (oldest first) and how many were
    /// evicted. The lock is released before this returns: the caller writes the lines
    /// without holding it.
    pub(crate) fn take_buffered(&self) -> (VecDeque<Vec<u8>>, usize) {
        lock(&self.buffer).take()
    }

    /// Holds `line` in this invocation's buffer of `capacity` bytes, or gives it back when it
    /// is larger than the whole buffer.
    pub(crate) fn hold(&self, line: Vec<u8>, capacity: usize) -> Result<(), Vec<u8>> {
        lock(&self.buffer).push(line, capacity)
    }

    /// Drops the lines held in this invocation's buffer.
    pub(crate) fn clear_buffer(&self) {
        let _ = self.take_buffered();
    }

    /// Whether this invocation is sampled for DEBUG, deciding with `rate` on first call.
    pub(crate) fn sampled(&self, rate: f64) -> bool {
        *self
            .sampled
            .get_or_init(|| rate > 0.0 && powertools_core::random_unit() < rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_at_zero_and_one_is_deterministic() {
        for _ in 0..200 {
            assert!(!InvocationLog::default().sampled(0.0));
            assert!(InvocationLog::default().sampled(1.0));
        }
    }

    #[test]
    fn sampling_is_decided_once_per_invocation() {
        let log = InvocationLog::default();
        let first = log.sampled(0.5);
        for _ in 0..50 {
            assert_eq!(log.sampled(0.5), first);
        }
    }
}
