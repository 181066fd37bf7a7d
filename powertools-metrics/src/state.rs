//! What a client keeps between a metric's addition and the flush: one [`State`] per client and
//! invocation (in the invocation's extensions), or per client in the process outside one.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use powertools_core::Invocation;
use serde_json::Value;

use crate::emf::Metric;

/// How many metrics a set holds before it looks them up through [`MetricSet::index`] rather
/// than by a scan.
const INDEXED: usize = 16;

/// Hashes a metric's key ([`crate::emf::name_key`], itself a hash) as it is.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `u64` keys; FNV-1a keeps any other input hashed.
        self.0 ^= powertools_core::Fnv1a::hash(bytes);
    }
}

/// Metrics, dimensions and metadata that go into the same blobs.
#[derive(Debug, Default)]
pub(crate) struct MetricSet {
    /// In the order they were first added (the blob's order). Taken only through
    /// [`MetricSet::take_metrics`], which keeps the index true.
    pub(crate) metrics: Vec<Metric>,
    /// Each metric's key to its place in `metrics` (the first metric with that key), for the
    /// first `indexed` metrics; filled once the set holds [`INDEXED`].
    index: HashMap<u64, usize, BuildHasherDefault<KeyHasher>>,
    indexed: usize,
    /// The set's own dimensions (beside `service` and the default dimensions).
    pub(crate) dimensions: Vec<(String, String)>,
    /// Further dimension sets (each beside `service` and the defaults).
    pub(crate) extra_sets: Vec<Vec<(String, String)>>,
    pub(crate) metadata: Vec<(String, Value)>,
    pub(crate) timestamp_ms: Option<u64>,
}

impl MetricSet {
    /// The place of metric `name` (its key `key`) in `metrics`.
    pub(crate) fn find_metric(&mut self, key: u64, name: &str) -> Option<usize> {
        let scan = |metrics: &[Metric]| metrics.iter().position(|m| m.key == key && m.name == name);
        if self.metrics.len() < INDEXED {
            return scan(&self.metrics);
        }
        if self.indexed > self.metrics.len() {
            self.index.clear();
            self.indexed = 0;
        }
        // A set holds at most `MAX_METRICS` (it is split there): sized once, never rehashed.
        self.index
            .reserve(crate::emf::MAX_METRICS.saturating_sub(self.index.len()));
        for (i, metric) in self.metrics.iter().enumerate().skip(self.indexed) {
            self.index.entry(metric.key).or_insert(i);
        }
        self.indexed = self.metrics.len();
        let i = *self.index.get(&key)?;
        match self.metrics.get(i) {
            Some(metric) if metric.name == name => Some(i),
            // Two names with one key: rare enough for a scan.
            _ => scan(&self.metrics),
        }
    }

    /// Takes the metrics out, leaving the set's dimensions and metadata.
    pub(crate) fn take_metrics(&mut self) -> Vec<Metric> {
        self.index.clear();
        self.indexed = 0;
        std::mem::take(&mut self.metrics)
    }

    /// The value of the set's own dimension `name`, in any of its dimension sets.
    pub(crate) fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .chain(self.extra_sets.iter().flatten())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A client's state within one invocation (or, outside any, within the process).
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) main: MetricSet,
    /// Sets recorded through the `metrics` facade with labels, one per label set.
    pub(crate) labeled: Vec<(Vec<(String, String)>, MetricSet)>,
    pub(crate) cold_start_emitted: bool,
    /// Whether a metric was added since the last flush (for the empty-invocation warning).
    pub(crate) added_any: bool,
    /// Counters this invocation owns ([`CounterCell`]): their increments since the last
    /// flush wait in the cell, added to the blob at the flush.
    pub(crate) deferred: Vec<Arc<CounterCell>>,
    /// The invocation whose state this is ([`Invocation::serial`]; 0 for the process's).
    pub(crate) owner: u64,
}

impl Drop for State {
    /// An invocation that ends without a flush loses its values (the state goes with it):
    /// its counters go back to no owner, with what they kept, so no later scope takes them.
    fn drop(&mut self) {
        for cell in self.deferred.drain(..) {
            if cell.release(self.owner) {
                cell.pending.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// A counter's increments within the one invocation that owns it, summed without a lock.
///
/// The first increment in an invocation takes the full path (the metric is added to the
/// invocation's set, so the blob keeps the order metrics were first recorded in) and, when no
/// other invocation owns the cell, makes this invocation its owner. Later increments in the
/// owner only add to `pending`; the owner's flush adds the sum to its set and gives the cell
/// up. Increments in any other invocation meanwhile take the full path into their own state.
#[derive(Debug)]
pub(crate) struct CounterCell {
    /// The owning invocation's serial, 0 when none.
    owner: AtomicU64,
    /// The sum of the owner's increments not yet in its set.
    pub(crate) pending: AtomicU64,
    /// The unit the metric was added with when the cell was claimed (the recorder's unit
    /// code): a later description sends increments down the full path again.
    pub(crate) unit: AtomicU8,
    pub(crate) name: String,
    /// The label set (valid, sorted), empty for the main set.
    pub(crate) labels: Vec<(String, String)>,
}

impl CounterCell {
    pub(crate) fn new(name: String, labels: Vec<(String, String)>) -> Self {
        Self {
            owner: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            unit: AtomicU8::new(0),
            name,
            labels,
        }
    }

    /// Adds `value` to the pending sum if invocation `serial` owns the cell with `unit` and
    /// the sum does not overflow; `false` sends the value down the full path.
    pub(crate) fn try_add(&self, serial: u64, unit: u8, value: u64) -> bool {
        self.owner.load(Ordering::Acquire) == serial
            && self.unit.load(Ordering::Relaxed) == unit
            && self
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                    sum.checked_add(value)
                })
                .is_ok()
    }

    /// Makes invocation `serial` the owner if the cell has none.
    pub(crate) fn claim(&self, serial: u64, unit: u8) -> bool {
        let claimed = self
            .owner
            .compare_exchange(0, serial, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if claimed {
            self.unit.store(unit, Ordering::Relaxed);
        }
        claimed
    }

    /// Gives the cell up if `serial` owns it.
    fn release(&self, serial: u64) -> bool {
        self.owner
            .compare_exchange(serial, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The owner's pending sum, the cell given up (the owner's flush).
    pub(crate) fn take(&self, serial: u64) -> u64 {
        // Released first: an increment that still saw the owner adds to `pending` after the
        // swap and is counted by the next owner's flush (it was recorded as this one ended).
        let _ = self.release(serial);
        self.pending.swap(0, Ordering::AcqRel)
    }
}

impl State {
    /// The set of `labels` (created empty, with `labels` as its dimensions, when new), or the
    /// main set.
    pub(crate) fn set_mut(&mut self, labels: Option<&[(String, String)]>) -> &mut MetricSet {
        let Some(labels) = labels else {
            return &mut self.main;
        };
        let index = match self
            .labeled
            .iter()
            .position(|(l, _)| l.as_slice() == labels)
        {
            Some(index) => index,
            None => {
                self.labeled.push((
                    labels.to_vec(),
                    MetricSet {
                        dimensions: labels.to_vec(),
                        ..MetricSet::default()
                    },
                ));
                self.labeled.len() - 1
            }
        };
        &mut self.labeled[index].1
    }

    /// Takes the counters this invocation owns, each with its pending sum (0s left out), and
    /// gives them up.
    pub(crate) fn take_deferred(&mut self) -> Vec<(Arc<CounterCell>, u64)> {
        let owner = self.owner;
        self.deferred
            .drain(..)
            .map(|cell| {
                let sum = cell.take(owner);
                (cell, sum)
            })
            .filter(|(_, sum)| *sum > 0)
            .collect()
    }

    /// Takes every set out (the main one first) and whether a metric was added, leaving the
    /// state empty for the next invocation.
    pub(crate) fn take_sets(&mut self) -> (bool, Vec<MetricSet>) {
        let added = std::mem::take(&mut self.added_any);
        let mut sets = Vec::with_capacity(1 + self.labeled.len());
        sets.push(std::mem::take(&mut self.main));
        sets.extend(
            std::mem::take(&mut self.labeled)
                .into_iter()
                .map(|(_, set)| set),
        );
        (added, sets)
    }
}

/// How a value joins the values a metric already has in the blob being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Another value (histograms, `Metrics::add_metric`).
    Append,
    /// Added to the one value (counters: one sum per flush).
    Sum,
    /// Replaces the one value (gauges: the last value).
    Replace,
}

/// The per-invocation states of every client, in the invocation's extensions.
#[derive(Debug, Default)]
struct PerInvocation(Mutex<Vec<(u64, State)>>);

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` on the state of client `id`: the current invocation's, else `process`. The state
/// is locked while `f` runs: `f` writes nothing.
pub(crate) fn with_state<R>(id: u64, process: &Mutex<State>, f: impl FnOnce(&mut State) -> R) -> R {
    let per = Invocation::with_current(|invocation| {
        let per = invocation
            .extensions()
            .get_or_insert_with(PerInvocation::default);
        (per, invocation.serial())
    });
    match per {
        Some((per, serial)) => {
            let mut states = lock(&per.0);
            let index = match states.iter().position(|(client, _)| *client == id) {
                Some(index) => index,
                None => {
                    let mut state = State::default();
                    state.owner = serial;
                    states.push((id, state));
                    states.len() - 1
                }
            };
            f(&mut states[index].1)
        }
        None => f(&mut lock(process)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emf::name_key;
    use crate::unit::{Resolution, Unit};

    fn metric(key: u64, name: &str) -> Metric {
        Metric {
            key,
            name: crate::emf::MetricName::new(name),
            unit: Unit::Count,
            resolution: Resolution::Standard,
            values: smallvec::smallvec![1.0],
        }
    }

    #[test]
    fn metrics_are_found_by_scan_and_by_index_alike() {
        let mut set = MetricSet::default();
        let names: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        for (n, name) in names.iter().enumerate() {
            assert_eq!(set.find_metric(name_key(name), name), None);
            set.metrics.push(metric(name_key(name), name));
            for (i, known) in names.iter().enumerate().take(n + 1) {
                assert_eq!(set.find_metric(name_key(known), known), Some(i));
            }
        }
        // Taken and filled again with other names: nothing of the old index is left.
        assert_eq!(set.take_metrics().len(), 40);
        for (i, name) in names.iter().rev().enumerate() {
            set.metrics.push(metric(name_key(name), name));
            assert_eq!(set.find_metric(name_key(name), name), Some(i));
        }
        assert_eq!(set.find_metric(name_key("absent"), "absent"), None);
    }

    #[test]
    fn names_sharing_a_key_are_told_apart() {
        let mut set = MetricSet::default();
        for i in 0..20 {
            set.metrics.push(metric(7, &format!("same-key-{i}")));
        }
        for i in 0..20 {
            assert_eq!(set.find_metric(7, &format!("same-key-{i}")), Some(i));
        }
        assert_eq!(set.find_metric(7, "same-key-20"), None);
        assert_eq!(set.find_metric(8, "same-key-0"), None);
    }
}
