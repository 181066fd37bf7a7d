//! A `metrics` crate recorder: `counter!`, `gauge!` and `histogram!` land in the same EMF.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    SharedString,
};

use crate::emf::MAX_DIMENSIONS;
use crate::error::MetricsError;
use crate::metrics::Metrics;
use crate::output::Pending;
use crate::state::{Combine, CounterCell};
use crate::unit::{Resolution, Unit};
use crate::validate::{validate_dimension, validate_metric_name, validate_value};

/// How many handles (metric kind, name and label set) a recorder keeps.
///
/// Past it, a macro call for a new label set gets a handle that is not kept: its values still
/// go to the current invocation's metrics, but a gauge's relative changes then start from 0
/// and a counter's `absolute` total from nothing. Keeps memory bounded when label values vary
/// per request.
pub const MAX_CACHED_HANDLES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Uses the hash a [`Key`] computes once at construction (its `Hash` writes only that `u64`).
#[derive(Default)]
struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `Key`; FNV-1a keeps any other input hashed.
        let mut fnv = powertools_core::Fnv1a::default();
        fnv.write_u64(self.0);
        fnv.write(bytes);
        self.0 = fnv.finish();
    }
}

type HandleMap = HashMap<Key, Arc<Handle>, BuildHasherDefault<KeyHash>>;

/// The kept handles, one map per kind (looked up by `&Key`, the key cloned only on insert).
#[derive(Default)]
struct Handles {
    counters: HandleMap,
    gauges: HandleMap,
    histograms: HandleMap,
}

impl Handles {
    fn of(&self, kind: Kind) -> &HandleMap {
        match kind {
            Kind::Counter => &self.counters,
            Kind::Gauge => &self.gauges,
            Kind::Histogram => &self.histograms,
        }
    }
    fn of_mut(&mut self, kind: Kind) -> &mut HandleMap {
        match kind {
            Kind::Counter => &mut self.counters,
            Kind::Gauge => &mut self.gauges,
            Kind::Histogram => &mut self.histograms,
        }
    }
    fn len(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.histograms.len()
    }
}

struct Shared {
    metrics: Metrics,
    /// The described units by name (each kept handle also holds its own, see [`Handle::unit`]).
    units: RwLock<HashMap<String, metrics::Unit>>,
    reported: Mutex<Vec<String>>,
    /// One handle per kind and key (up to [`MAX_CACHED_HANDLES`]), so that every macro call
    /// for a key reaches the same counter total and gauge value.
    handles: RwLock<Handles>,
    warned_full: AtomicBool,
}

/// Feeds the `metrics` facade into a [`Metrics`] client.
///
/// How the facade maps to EMF (one blob per label set, written at every flush, i.e. at the
/// end of every invocation under [`Metrics::layer`]):
///
/// | facade | EMF values per flush |
/// |---|---|
/// | `counter!(..).increment(n)` | one value: the sum of the increments since the last flush |
/// | `counter!(..).absolute(total)` | adds the increase over the highest total seen so far (a counter never goes down; a lower total adds nothing) |
/// | `gauge!(..).set(v)` | one value: the gauge's last value |
/// | `gauge!(..).increment(d)` / `decrement(d)` | the change applies to the gauge's current value, kept across invocations; one value: the last |
/// | `histogram!(..).record(v)` | every value recorded, in order |
///
/// A metric that is not touched during an invocation writes nothing. Handles are kept per key
/// (name and labels): repeated macro calls reach the same counter total and gauge value. At
/// most [`MAX_CACHED_HANDLES`] (10,000) are kept, so label values that vary per request do not
/// grow memory for the life of the container: past that, a new label set gets a handle that is
/// not kept (its values are still written; its gauge changes start from 0 and its `absolute`
/// totals from nothing), reported once on stderr.
///
/// Units come from `describe_counter!`/`describe_gauge!`/`describe_histogram!` (counters
/// default to `Count`, the others to `None`; nanoseconds and binary byte units are converted);
/// labels become dimensions, one blob per label set. Values recorded inside an invocation go
/// to that invocation's metrics. A value or label EMF would refuse is left out and reported once
/// per metric on stderr (the facade has no error path).
///
/// ```
/// use powertools_metrics::{Metrics, MetricsRecorder};
///
/// let metrics = Metrics::builder().namespace("Orders").build().unwrap();
/// let recorder = MetricsRecorder::new(metrics.clone());
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_histogram!("latency", metrics::Unit::Milliseconds, "order latency");
///     metrics::counter!("orders_accepted").increment(1);
///     metrics::histogram!("latency", "route" => "/orders").record(12.5);
/// });
/// // In Lambda: recorder.install() once at INIT, and metrics.layer() around the handler.
/// ```
#[derive(Clone)]
pub struct MetricsRecorder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("metrics", &self.shared.metrics)
            .finish()
    }
}

impl MetricsRecorder {
    /// A recorder writing into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            shared: Arc::new(Shared {
                metrics,
                units: RwLock::new(HashMap::new()),
                reported: Mutex::new(Vec::new()),
                handles: RwLock::new(Handles::default()),
                warned_full: AtomicBool::new(false),
            }),
        }
    }

    /// Installs this recorder as the `metrics` facade's global recorder.
    pub fn install(self) -> Result<(), metrics::SetRecorderError<Self>> {
        metrics::set_global_recorder(self)
    }

    /// How many handles the recorder keeps (at most [`MAX_CACHED_HANDLES`]).
    pub fn cached_handles(&self) -> usize {
        self.shared.handles.read().map(|h| h.len()).unwrap_or(0)
    }

    fn describe(&self, key: &KeyName, unit: Option<metrics::Unit>) {
        let Some(unit) = unit else { return };
        self.shared
            .units
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.as_str().to_owned(), unit);
        // Handles kept before the description take it too. A handle made meanwhile read the
        // units above under the handles' write lock: it has the unit already.
        let handles = self
            .shared
            .handles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for map in [&handles.counters, &handles.gauges, &handles.histograms] {
            for handle in map.values().filter(|h| h.name == key.as_str()) {
                handle.unit.store(unit_code(Some(unit)), Ordering::Relaxed);
            }
        }
    }

    fn handle(&self, key: &Key, kind: Kind) -> Arc<Handle> {
        if let Ok(handles) = self.shared.handles.read()
            && let Some(handle) = handles.of(kind).get(key)
        {
            return Arc::clone(handle);
        }
        let mut handles = self
            .shared
            .handles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handle) = handles.of(kind).get(key) {
            return Arc::clone(handle);
        }
        let kept = handles.len() < MAX_CACHED_HANDLES;
        let valid_name = validate_metric_name(key.name());
        let labels = self.labels(key);
        // Only a kept handle's increments wait in a cell: a fresh one per call would be
        // claimed, and listed in the invocation's state, at every call.
        let cell = match (&valid_name, &labels) {
            (Ok(()), Ok(labels)) if kept && kind == Kind::Counter => Some(Arc::new(
                CounterCell::new(key.name().to_owned(), labels.clone()),
            )),
            _ => None,
        };
        let handle = Arc::new(Handle {
            shared: Arc::clone(&self.shared),
            name: key.name().to_owned(),
            valid_name,
            labels,
            cell,
            kind,
            unit: AtomicU8::new(unit_code(
                self.shared
                    .units
                    .read()
                    .ok()
                    .and_then(|units| units.get(key.name()).copied()),
            )),
            total: AtomicU64::new(0),
            gauge: Mutex::new(0.0),
        });
        if kept {
            handles
                .of_mut(kind)
                .insert(key.clone(), Arc::clone(&handle));
        } else if !self.shared.warned_full.swap(true, Ordering::Relaxed) {
            powertools_core::warn(format_args!(
                "metrics recorder: {MAX_CACHED_HANDLES} handles kept (label values that vary per request?); further label sets are not kept: their values are still written, gauge changes start from 0 (reported once)"
            ));
        }
        handle
    }

    /// The dimensions of `key`'s labels: each a valid dimension, each key once, `service` and
    /// the default dimensions only with their own value (then left out: every set has them),
    /// at most 29 beside `service`. Anything else would make an invalid blob or lose a value.
    fn labels(&self, key: &Key) -> Result<Vec<(String, String)>, MetricsError> {
        let metrics = &self.shared.metrics;
        let mut labels: Vec<(String, String)> = Vec::new();
        for label in key.labels() {
            let (name, value) = (label.key(), label.value());
            validate_dimension(name, value)?;
            metrics.check_root_name(name)?;
            let existing = metrics.output().fixed_dimension(name).or_else(|| {
                labels
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            });
            match existing {
                Some(existing) if existing == value => {}
                Some(existing) => {
                    return Err(MetricsError::ConflictingDimension {
                        name: name.to_owned(),
                        existing: existing.to_owned(),
                        new: value.to_owned(),
                    });
                }
                None => labels.push((name.to_owned(), value.to_owned())),
            }
        }
        let count = metrics.output().fixed_dimensions() + labels.len();
        if count > MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions(count));
        }
        labels.sort();
        Ok(labels)
    }
}

fn report_once(shared: &Shared, name: &str, problem: &str) {
    let mut reported = shared
        .reported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !reported.iter().any(|n| n == name) {
        reported.push(name.to_owned());
        powertools_core::warn(format_args!(
            "metric {name:?}: {problem}; left out (reported once per metric)"
        ));
    }
}

/// Every facade unit, so that a handle keeps its unit in one atomic byte.
const FACADE_UNITS: [metrics::Unit; 17] = {
    use metrics::Unit as M;
    [
        M::Count,
        M::Percent,
        M::Seconds,
        M::Milliseconds,
        M::Microseconds,
        M::Nanoseconds,
        M::Tebibytes,
        M::Gibibytes,
        M::Mebibytes,
        M::Kibibytes,
        M::Bytes,
        M::TerabitsPerSecond,
        M::GigabitsPerSecond,
        M::MegabitsPerSecond,
        M::KilobitsPerSecond,
        M::BitsPerSecond,
        M::CountPerSecond,
    ]
};

/// 0 for no described unit, else 1 + the unit's place in [`FACADE_UNITS`].
fn unit_code(unit: Option<metrics::Unit>) -> u8 {
    unit.and_then(|unit| FACADE_UNITS.iter().position(|u| *u == unit))
        .and_then(|i| u8::try_from(i + 1).ok())
        .unwrap_or(0)
}

fn described_unit(code: u8) -> Option<metrics::Unit> {
    FACADE_UNITS.get(usize::from(code).checked_sub(1)?).copied()
}

/// A counter's EMF unit and the factor its values are multiplied by, for a unit code.
pub(crate) fn counter_unit(code: u8) -> (Unit, f64) {
    described_unit(code).map_or((Unit::Count, 1.0), Unit::from_metrics)
}

static WARNED_OUTSIDE: AtomicBool = AtomicBool::new(false);

struct Handle {
    shared: Arc<Shared>,
    name: String,
    /// The label set, or why it cannot be written (every value is then left out, reported).
    labels: Result<Vec<(String, String)>, MetricsError>,
    /// Whether the name is a valid metric name (checked once).
    valid_name: Result<(), MetricsError>,
    /// A kept counter's lock-free sum within the invocation that owns it.
    cell: Option<Arc<CounterCell>>,
    kind: Kind,
    /// The described unit ([`unit_code`]), read without a lock on every value.
    unit: AtomicU8,
    /// A counter's highest total (increments and `absolute`), kept across flushes. The values
    /// themselves go to the recording invocation's metrics.
    total: AtomicU64,
    /// A gauge's current value, kept across flushes.
    gauge: Mutex<f64>,
}

impl Handle {
    fn gauge(&self) -> std::sync::MutexGuard<'_, f64> {
        self.gauge
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, value: f64, combine: Combine) {
        let code = self.unit.load(Ordering::Relaxed);
        let (unit, factor) = match described_unit(code) {
            Some(unit) => Unit::from_metrics(unit),
            None => match self.kind {
                Kind::Counter => (Unit::Count, 1.0),
                Kind::Gauge | Kind::Histogram => (Unit::None, 1.0),
            },
        };
        let value = value * factor;
        let checked = self
            .valid_name
            .clone()
            .and_then(|()| validate_value(&self.name, value));
        if let Err(e) = checked {
            report_once(&self.shared, &self.name, &e.to_string());
            return;
        }
        let serial = powertools_core::Invocation::with_current(powertools_core::Invocation::serial);
        if serial.is_none() && !WARNED_OUTSIDE.swap(true, Ordering::Relaxed) {
            powertools_core::warn(format_args!(
                "a metric was recorded outside an invocation: it is kept until Metrics::flush()"
            ));
        }
        let labels = match &self.labels {
            Ok(labels) => labels,
            Err(e) => {
                report_once(&self.shared, &self.name, &e.to_string());
                return;
            }
        };
        // A counter whose sum is exact in whole numbers can wait in its cell (see
        // [`CounterCell`]): claimed here, under the state's lock, once the value is in.
        let cell = match (&self.cell, serial) {
            (Some(cell), Some(serial)) if combine == Combine::Sum && factor == 1.0 => {
                Some((cell, serial))
            }
            _ => None,
        };
        let metrics = &self.shared.metrics;
        let labels = (!labels.is_empty()).then_some(labels.as_slice());
        let mut pending = Pending::new();
        let added = metrics.with_state(|state| {
            let result = metrics.add_to_set_in(
                state,
                &mut pending,
                labels,
                &self.name,
                unit,
                Resolution::Standard,
                value,
                combine,
            );
            if result.is_ok() {
                state.added_any = true;
                if let Some((cell, serial)) = cell
                    && state.owner == serial
                    && cell.claim(serial, code)
                {
                    state.deferred.push(Arc::clone(cell));
                }
            }
            result
        });
        metrics.output().write_pending(pending);
        if let Err(e) = added {
            report_once(&self.shared, &self.name, &e.to_string());
        }
    }

    /// A counter's increase: into the cell when this invocation owns it, else the full path.
    fn count(&self, value: u64) {
        if let Some(cell) = &self.cell
            && let Some(serial) =
                powertools_core::Invocation::with_current(powertools_core::Invocation::serial)
            && cell.try_add(serial, self.unit.load(Ordering::Relaxed), value)
        {
            return;
        }
        self.record(value as f64, Combine::Sum);
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        // Lock-free: the closure always returns `Some`, so this never fails.
        let _ = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                Some(total.saturating_add(value))
            });
        self.count(value);
    }
    fn absolute(&self, value: u64) {
        // Each increase is counted once, whatever the order of concurrent calls.
        let previous = self.total.fetch_max(value, Ordering::Relaxed);
        let increase = value.saturating_sub(previous);
        if increase > 0 {
            self.count(increase);
        }
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        // Held while recording, so that the last value written is the gauge's last value.
        let mut gauge = self.gauge();
        *gauge += value;
        self.record(*gauge, Combine::Replace);
    }
    fn decrement(&self, value: f64) {
        GaugeFn::increment(self, -value);
    }
    fn set(&self, value: f64) {
        let mut gauge = self.gauge();
        *gauge = value;
        self.record(value, Combine::Replace);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        Handle::record(self, value, Combine::Append);
    }
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(
        &self,
        key: KeyName,
        unit: Option<metrics::Unit>,
        _description: SharedString,
    ) {
        self.describe(&key, unit);
    }
    fn describe_gauge(
        &self,
        key: KeyName,
        unit: Option<metrics::Unit>,
        _description: SharedString,
    ) {
        self.describe(&key, unit);
    }
    fn describe_histogram(
        &self,
        key: KeyName,
        unit: Option<metrics::Unit>,
        _description: SharedString,
    ) {
        self.describe(&key, unit);
    }
    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key, Kind::Counter))
    }
    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key, Kind::Gauge))
    }
    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key, Kind::Histogram))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_facade_unit_has_its_own_code() {
        for unit in FACADE_UNITS {
            assert_eq!(described_unit(unit_code(Some(unit))), Some(unit));
        }
        let mut codes: Vec<u8> = FACADE_UNITS.iter().map(|u| unit_code(Some(*u))).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), FACADE_UNITS.len());
        assert!(!codes.contains(&0));
        assert_eq!(described_unit(unit_code(None)), None);
        assert_eq!(described_unit(u8::MAX), None);
    }
}
