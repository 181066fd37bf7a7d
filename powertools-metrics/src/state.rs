//! What a client keeps between a metric's addition and the flush: one [`State`] per client and
//! invocation (in the invocation's extensions), or per client in the process outside one.

use std::sync::{Mutex, MutexGuard};

use powertools_core::Invocation;
use serde_json::Value;

use crate::emf::Metric;

/// Metrics, dimensions and metadata that go into the same blobs.
#[derive(Debug, Default)]
pub(crate) struct MetricSet {
    pub(crate) metrics: Vec<Metric>,
    /// The set's own dimensions (beside `service` and the default dimensions).
    pub(crate) dimensions: Vec<(String, String)>,
    /// Further dimension sets (each beside `service` and the defaults).
    pub(crate) extra_sets: Vec<Vec<(String, String)>>,
    pub(crate) metadata: Vec<(String, Value)>,
    pub(crate) timestamp_ms: Option<u64>,
}

impl MetricSet {
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
        invocation
            .extensions()
            .get_or_insert_with(PerInvocation::default)
    });
    match per {
        Some(per) => {
            let mut states = lock(&per.0);
            let index = match states.iter().position(|(client, _)| *client == id) {
                Some(index) => index,
                None => {
                    states.push((id, State::default()));
                    states.len() - 1
                }
            };
            f(&mut states[index].1)
        }
        None => f(&mut lock(process)),
    }
}
