//! What the logger keeps per invocation, in the invocation's own scope.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock};

use powertools_core::Invocation;
use serde_json::Value;

/// Per-invocation logger state, stored in the invocation's extensions: it vanishes with the
/// invocation and is never shared with a concurrent one.
#[derive(Debug, Default)]
pub(crate) struct InvocationLog {
    /// Whether this invocation logs at DEBUG because of sampling (decided once, on first use).
    sampled: OnceLock<bool>,
    pub(crate) keys: Mutex<Vec<(String, Value)>>,
    pub(crate) correlation_id: Mutex<Option<String>>,
    pub(crate) buffer: Mutex<Buffer>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InvocationLog {
    /// The state of `invocation`, created on first use.
    pub(crate) fn of(invocation: &Invocation) -> std::sync::Arc<Self> {
        invocation.extensions().get_or_insert_with(Self::default)
    }

    /// Adds (or replaces) a key of this invocation.
    pub(crate) fn append_key(&self, key: String, value: Value) {
        let mut keys = lock(&self.keys);
        match keys.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => keys.push((key, value)),
        }
    }

    /// Removes a key of this invocation.
    pub(crate) fn remove_key(&self, key: &str) {
        lock(&self.keys).retain(|(k, _)| k != key);
    }

    /// Whether this invocation is sampled for DEBUG, deciding with `rate` on first call.
    pub(crate) fn sampled(&self, rate: f64) -> bool {
        *self
            .sampled
            .get_or_init(|| rate > 0.0 && powertools_core::random_unit() < rate)
    }
}

/// Lines held back until the invocation fails (or dropped when it succeeds).
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    evicted: usize,
}

impl Buffer {
    /// Holds `line`, evicting the oldest lines to stay within `max_bytes`. A line larger than
    /// `max_bytes` is not held: it is given back, to be written directly.
    pub(crate) fn push(&mut self, line: Vec<u8>, max_bytes: usize) -> Result<(), Vec<u8>> {
        if line.len() > max_bytes {
            return Err(line);
        }
        while self.bytes + line.len() > max_bytes {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.len();
                    self.evicted += 1;
                }
                None => break,
            }
        }
        self.bytes += line.len();
        self.lines.push_back(line);
        Ok(())
    }

    /// Takes the held lines (oldest first) and how many were evicted, leaving it empty.
    pub(crate) fn take(&mut self) -> (VecDeque<Vec<u8>>, usize) {
        self.bytes = 0;
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.evicted),
        )
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_evicts_oldest_first_within_its_bytes() {
        let mut b = Buffer::default();
        for i in 0..5u8 {
            assert!(b.push(vec![b'0' + i; 10], 35).is_ok());
        }
        assert_eq!(b.len(), 3);
        let (lines, evicted) = b.take();
        assert_eq!(evicted, 2);
        let firsts: Vec<u8> = lines.iter().map(|l| l[0]).collect();
        assert_eq!(firsts, b"234");
        assert_eq!(b.take().1, 0);
    }

    #[test]
    fn a_line_larger_than_the_buffer_is_given_back() {
        let mut b = Buffer::default();
        assert!(b.push(vec![b'a'; 10], 50).is_ok());
        assert_eq!(b.push(vec![b'x'; 100], 50), Err(vec![b'x'; 100]));
        let (lines, evicted) = b.take();
        assert_eq!(lines.len(), 1, "the held line stays");
        assert_eq!(evicted, 0);
    }

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
