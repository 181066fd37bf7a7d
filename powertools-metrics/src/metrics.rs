//! The metrics client: a cheap handle, its builder, and the per-invocation metric sets.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powertools_core::{DEFAULT_SERVICE_NAME, Env, FunctionConfig, Invocation};
use serde_json::Value;

use crate::emf::{
    BlobContext, MAX_BLOB_BYTES, MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES, Metric, name_key,
    write_blob, write_blobs,
};
use crate::error::MetricsError;
use crate::unit::{Resolution, Unit};

type Clock = dyn Fn() -> SystemTime + Send + Sync;
type Sink = dyn Fn(&[u8]) -> std::io::Result<()> + Send + Sync;

const SERVICE: &str = "service";
/// The root member holding the EMF directive: never a metric or dimension name.
const DIRECTIVE: &str = "_aws";
/// What one metric can take in a blob at most (its definition and root member with 100 values,
/// names escaped): the dimensions leave at least this much of a 256 KB event free.
const ROOM_FOR_ONE_METRIC: usize = 8 * 1024;
const MAX_PAST: Duration = Duration::from_secs(14 * 24 * 3600);
const MAX_FUTURE: Duration = Duration::from_secs(2 * 3600);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn validate_metric_name(name: &str) -> Result<(), MetricsError> {
    let chars = name.chars().count();
    if chars == 0 || chars > 255 || name.trim().is_empty() {
        return Err(MetricsError::InvalidMetricName(name.to_owned()));
    }
    refuse_reserved(name)
}

/// The root member Lambda's log-level filtering reads.
const LEVEL: &str = "level";

/// Lambda's spelling of an application log level (`AWS_LAMBDA_LOG_LEVEL`).
fn lambda_log_level(value: &str) -> Option<&'static str> {
    ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
        .into_iter()
        .find(|level| level.eq_ignore_ascii_case(value.trim()))
}

/// What `build` writes on stderr when Lambda will drop every blob: a JSON line at the
/// application level, so that the same filtering keeps it.
fn dropped_blobs_warning(level: &str) -> String {
    let message = format!(
        "[powertools] metrics: AWS_LAMBDA_LOG_FORMAT=JSON with application log level {level}: Lambda drops every JSON line without a \"level\" at or above {level}, so every EMF blob will be lost. Fix: leave MetricsBuilder::log_level_key on (blobs then carry \"level\":\"{level}\"), or set the application log level to INFO"
    );
    serde_json::json!({ "level": level, "message": message }).to_string()
}

/// Refuses the root member names EMF keeps for itself.
fn refuse_reserved(name: &str) -> Result<(), MetricsError> {
    if name == DIRECTIVE {
        return Err(clash(name, "reserved key (the EMF directive)"));
    }
    Ok(())
}

pub(crate) fn validate_value(name: &str, value: f64) -> Result<(), MetricsError> {
    // CloudWatch rejects values beyond 2^360 in magnitude and non-zero values closer to 0 than
    // 2^-360.
    const MAX: f64 = 2.348_542_582_773_833e108; // 2^360
    const MIN: f64 = 4.258_000_325_956_408e-109; // 2^-360
    let magnitude = value.abs();
    if !value.is_finite() || magnitude > MAX || (magnitude != 0.0 && magnitude < MIN) {
        return Err(MetricsError::InvalidValue {
            name: name.to_owned(),
            value,
        });
    }
    Ok(())
}

pub(crate) fn validate_dimension(name: &str, value: &str) -> Result<(), MetricsError> {
    let name_len = name.chars().count();
    if name_len == 0
        || name_len > 250
        || !name.is_ascii()
        || name.starts_with(':')
        || name.trim().is_empty()
    {
        return Err(MetricsError::InvalidDimensionName(name.to_owned()));
    }
    let value_len = value.chars().count();
    if value_len == 0 || value_len > 1024 || !value.is_ascii() || value.trim().is_empty() {
        return Err(MetricsError::InvalidDimensionValue {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    refuse_reserved(name)
}

/// CloudWatch's namespace rules: 1 to 255 characters among `0-9A-Za-z.-_/#:` and space, not
/// blank, not `AWS/...`.
fn validate_namespace(namespace: &str) -> Result<(), MetricsError> {
    let len = namespace.chars().count();
    if len == 0
        || len > 255
        || !namespace.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#' | ':' | ' ')
        })
        || namespace.starts_with("AWS/")
        || namespace.trim().is_empty()
    {
        return Err(MetricsError::InvalidNamespace(namespace.to_owned()));
    }
    Ok(())
}

fn clash(name: &str, used_as: &'static str) -> MetricsError {
    MetricsError::NameClash {
        name: name.to_owned(),
        used_as,
    }
}

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
    fn dimension(&self, name: &str) -> Option<&str> {
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
    cold_start_emitted: bool,
    added_any: bool,
}

/// How a value joins the values a metric already has in the blob being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Another value (histograms, [`Metrics::add_metric`]).
    Append,
    /// Added to the one value (counters: one sum per flush).
    Sum,
    /// Replaces the one value (gauges: the last value).
    Replace,
}

/// Marks that the state received a metric (for the empty-invocation warning).
pub(crate) fn mark_added(state: &mut State) {
    state.added_any = true;
}

/// The per-invocation states of every client, in the invocation's extensions.
#[derive(Debug, Default)]
struct PerInvocation(Mutex<Vec<(u64, State)>>);

pub(crate) struct Inner {
    id: u64,
    pub(crate) config: Arc<FunctionConfig>,
    namespace: String,
    service: String,
    default_dimensions: Vec<(String, String)>,
    function_name: Option<String>,
    disabled: bool,
    raise_on_empty: bool,
    /// The root member `level` of every blob (see [`MetricsBuilder::log_level_key`]).
    log_level: Option<&'static str>,
    sink: Box<Sink>,
    clock: Arc<Clock>,
    process: Mutex<State>,
    warned_empty: AtomicBool,
    write_failed: AtomicBool,
}

/// The metrics client: a cheap handle (an `Arc`). Build it once at INIT.
///
/// Within an invocation opened by the [`MetricsLayer`](crate::MetricsLayer) (or any Powertools
/// layer), metrics go to that invocation's own set, flushed when it ends; outside one, to a
/// process-wide set flushed by [`Metrics::flush`].
#[derive(Clone)]
pub struct Metrics {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.inner.namespace)
            .field("service", &self.inner.service)
            .field("disabled", &self.inner.disabled)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// A builder reading unset values from the process environment.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// A client configured from the environment, writing to stdout. Fails only when no
    /// namespace is configured (`POWERTOOLS_METRICS_NAMESPACE`) or it is invalid.
    pub fn from_env() -> Result<Self, MetricsError> {
        MetricsBuilder::default().build()
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let per = Invocation::with_current(|invocation| {
            invocation
                .extensions()
                .get_or_insert_with(PerInvocation::default)
        });
        match per {
            Some(per) => {
                let mut states = lock(&per.0);
                let index = match states.iter().position(|(id, _)| *id == self.inner.id) {
                    Some(index) => index,
                    None => {
                        states.push((self.inner.id, State::default()));
                        states.len() - 1
                    }
                };
                f(&mut states[index].1)
            }
            None => f(&mut lock(&self.inner.process)),
        }
    }

    /// Adds a value to a metric at standard resolution. Values of one metric accumulate (up to
    /// 100 per blob; more start a new blob).
    pub fn add_metric(&self, name: &str, unit: Unit, value: f64) -> Result<(), MetricsError> {
        self.add_metric_with_resolution(name, unit, Resolution::Standard, value)
    }

    /// Adds a value to a metric at the given storage resolution.
    pub fn add_metric_with_resolution(
        &self,
        name: &str,
        unit: Unit,
        resolution: Resolution,
        value: f64,
    ) -> Result<(), MetricsError> {
        validate_metric_name(name)?;
        validate_value(name, value)?;
        self.with_state(|state| {
            state.added_any = true;
            self.add_to_set_in(state, None, name, unit, resolution, value, Combine::Append)
        })
    }

    /// Adds a value to the set of `labels` (or the main set), flushing first when a limit
    /// would be passed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_to_set_in(
        &self,
        state: &mut State,
        labels: Option<&[(String, String)]>,
        name: &str,
        unit: Unit,
        resolution: Resolution,
        value: f64,
        combine: Combine,
    ) -> Result<(), MetricsError> {
        self.check_root_name(name)?;
        let set = match labels {
            None => &mut state.main,
            Some(labels) => {
                let index = match state
                    .labeled
                    .iter()
                    .position(|(l, _)| l.as_slice() == labels)
                {
                    Some(index) => index,
                    None => {
                        state.labeled.push((
                            labels.to_vec(),
                            MetricSet {
                                dimensions: labels.to_vec(),
                                ..MetricSet::default()
                            },
                        ));
                        state.labeled.len() - 1
                    }
                };
                &mut state.labeled[index].1
            }
        };
        if self.is_dimension(set, name) {
            return Err(clash(name, "dimension"));
        }
        if set.metadata.iter().any(|(k, _)| k == name) {
            return Err(clash(name, "metadata key"));
        }
        let describe = |unit: Unit, resolution: Resolution| {
            format!("{} at {:?} resolution", unit.as_str(), resolution)
        };
        let key = name_key(name);
        match set
            .metrics
            .iter()
            .position(|m| m.key == key && m.name == name)
        {
            Some(index) => {
                let metric = &set.metrics[index];
                if metric.unit != unit || metric.resolution != resolution {
                    return Err(MetricsError::ConflictingMetric {
                        name: name.to_owned(),
                        first: describe(metric.unit, metric.resolution),
                        second: describe(unit, resolution),
                    });
                }
                if let (Combine::Sum | Combine::Replace, Some(last)) =
                    (combine, set.metrics[index].values.last_mut())
                {
                    let combined = match combine {
                        Combine::Sum => *last + value,
                        _ => value,
                    };
                    validate_value(name, combined)?;
                    *last = combined;
                } else if set.metrics[index].values.len() >= MAX_VALUES {
                    self.write_set(set, false);
                    set.metrics.push(Metric {
                        key,
                        name: name.to_owned(),
                        unit,
                        resolution,
                        values: vec![value],
                    });
                } else {
                    set.metrics[index].values.push(value);
                }
            }
            None => {
                if set.metrics.len() >= MAX_METRICS {
                    self.write_set(set, false);
                }
                set.metrics.push(Metric {
                    key,
                    name: name.to_owned(),
                    unit,
                    resolution,
                    values: vec![value],
                });
            }
        }
        Ok(())
    }

    fn is_dimension(&self, set: &MetricSet, name: &str) -> bool {
        name == SERVICE
            || self.inner.default_dimensions.iter().any(|(k, _)| k == name)
            || set.dimension(name).is_some()
    }

    fn check_dimension(
        &self,
        set: &MetricSet,
        name: &str,
        value: &str,
    ) -> Result<bool, MetricsError> {
        validate_dimension(name, value)?;
        self.check_root_name(name)?;
        if set.metrics.iter().any(|m| m.name == name) {
            return Err(clash(name, "metric"));
        }
        if set.metadata.iter().any(|(k, _)| k == name) {
            return Err(clash(name, "metadata key"));
        }
        let existing = self.fixed_dimension(name).or_else(|| set.dimension(name));
        match existing {
            Some(existing) if existing == value => Ok(false),
            Some(existing) => Err(MetricsError::ConflictingDimension {
                name: name.to_owned(),
                existing: existing.to_owned(),
                new: value.to_owned(),
            }),
            None => Ok(true),
        }
    }

    /// Refuses `level` as a metric, dimension or metadata name when blobs carry the `level`
    /// member (a root member is written once).
    pub(crate) fn check_root_name(&self, name: &str) -> Result<(), MetricsError> {
        if self.inner.log_level.is_some() && name == LEVEL {
            return Err(clash(
                name,
                "root member for Lambda's log-level filtering (see MetricsBuilder::log_level_key)",
            ));
        }
        Ok(())
    }

    /// The value of `service` or of a default dimension (present in every dimension set).
    pub(crate) fn fixed_dimension(&self, name: &str) -> Option<&str> {
        if name == SERVICE {
            return Some(self.inner.service.as_str());
        }
        self.inner
            .default_dimensions
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// How many dimensions every set holds (`service` and the default dimensions).
    pub(crate) fn fixed_dimensions(&self) -> usize {
        1 + self.inner.default_dimensions.len()
    }

    /// Refuses dimensions that would leave less than [`ROOM_FOR_ONE_METRIC`] of a blob for
    /// metrics (many large dimension sets).
    fn check_size(&self, set: &MetricSet) -> Result<(), MetricsError> {
        let mut out = Vec::new();
        self.with_context(set, |ctx| write_blob(&mut out, ctx, &[], false));
        if out.len() + ROOM_FOR_ONE_METRIC > MAX_BLOB_BYTES {
            return Err(MetricsError::DimensionsTooLarge { bytes: out.len() });
        }
        Ok(())
    }

    /// Adds a dimension to the main dimension set of the current invocation's metrics.
    pub fn add_dimension(&self, name: &str, value: &str) -> Result<(), MetricsError> {
        self.with_state(|state| {
            let set = &mut state.main;
            self.check_dimension(set, name, value)?;
            // Present with this value in the main set already (a further set may hold it too:
            // it is still added to the main set).
            if self.fixed_dimension(name).is_some() || set.dimensions.iter().any(|(k, _)| k == name)
            {
                return Ok(());
            }
            let count = self.fixed_dimensions() + set.dimensions.len() + 1;
            if count > MAX_DIMENSIONS {
                return Err(MetricsError::TooManyDimensions(count));
            }
            set.dimensions.push((name.to_owned(), value.to_owned()));
            // One set of at most 30 dimensions always fits; further sets may not.
            if !set.extra_sets.is_empty()
                && let Err(e) = self.check_size(set)
            {
                set.dimensions.pop();
                return Err(e);
            }
            Ok(())
        })
    }

    /// Adds a further dimension set (beside `service` and the default dimensions): the same
    /// metrics are then also aggregated by these dimensions.
    pub fn add_dimension_set(&self, dimensions: &[(&str, &str)]) -> Result<(), MetricsError> {
        self.with_state(|state| {
            let set = &mut state.main;
            let mut new: Vec<(String, String)> = Vec::with_capacity(dimensions.len());
            for (name, value) in dimensions {
                match new.iter().find(|(k, _)| k == name) {
                    Some((_, existing)) if existing == value => continue,
                    Some((_, existing)) => {
                        return Err(MetricsError::ConflictingDimension {
                            name: (*name).to_owned(),
                            existing: existing.clone(),
                            new: (*value).to_owned(),
                        });
                    }
                    None => {}
                }
                self.check_dimension(set, name, value)?;
                // `service` and the default dimensions are in every set already.
                if self.fixed_dimension(name).is_none() {
                    new.push(((*name).to_owned(), (*value).to_owned()));
                }
            }
            let count = self.fixed_dimensions() + new.len();
            if count > MAX_DIMENSIONS {
                return Err(MetricsError::TooManyDimensions(count));
            }
            set.extra_sets.push(new);
            if let Err(e) = self.check_size(set) {
                set.extra_sets.pop();
                return Err(e);
            }
            Ok(())
        })
    }

    /// Adds a high-cardinality value (an order id, say) as a root key that is not a dimension.
    pub fn add_metadata(&self, key: &str, value: Value) -> Result<(), MetricsError> {
        self.with_state(|state| {
            let set = &mut state.main;
            if key == DIRECTIVE || key.is_empty() {
                return Err(clash(key, "reserved key"));
            }
            self.check_root_name(key)?;
            if set.metrics.iter().any(|m| m.name == key) {
                return Err(clash(key, "metric"));
            }
            if self.is_dimension(set, key) {
                return Err(clash(key, "dimension"));
            }
            match set.metadata.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => set.metadata.push((key.to_owned(), value)),
            }
            Ok(())
        })
    }

    /// Sets the timestamp of the current invocation's metrics (default: the time of the
    /// flush). CloudWatch drops metrics more than 14 days old or 2 hours ahead: refused here.
    pub fn set_timestamp(&self, timestamp: SystemTime) -> Result<(), MetricsError> {
        let now = (self.inner.clock)();
        let ms = epoch_ms(timestamp);
        let too_old = now
            .duration_since(timestamp)
            .is_ok_and(|age| age > MAX_PAST);
        let too_new = timestamp
            .duration_since(now)
            .is_ok_and(|ahead| ahead > MAX_FUTURE);
        if too_old || too_new || timestamp < UNIX_EPOCH {
            return Err(MetricsError::InvalidTimestamp { timestamp_ms: ms });
        }
        self.with_state(|state| state.main.timestamp_ms = Some(ms));
        Ok(())
    }

    /// Writes one metric in a blob of its own, with its own dimensions (beside `service` and
    /// the default dimensions), at once.
    pub fn single_metric(
        &self,
        name: &str,
        unit: Unit,
        value: f64,
        dimensions: &[(&str, &str)],
    ) -> Result<(), MetricsError> {
        validate_metric_name(name)?;
        validate_value(name, value)?;
        self.check_root_name(name)?;
        let mut set = MetricSet::default();
        for (key, dim_value) in dimensions {
            if self.check_dimension(&set, key, dim_value)? {
                set.dimensions
                    .push(((*key).to_owned(), (*dim_value).to_owned()));
            }
        }
        let count = self.fixed_dimensions() + set.dimensions.len();
        if count > MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions(count));
        }
        if self.is_dimension(&set, name) {
            return Err(clash(name, "dimension"));
        }
        set.metrics.push(Metric {
            key: name_key(name),
            name: name.to_owned(),
            unit,
            resolution: Resolution::Standard,
            values: vec![value],
        });
        self.write_set(&mut set, true);
        Ok(())
    }

    /// Writes the current invocation's (or, outside one, the process's) metrics now and clears
    /// them. An empty flush warns once on stderr, or fails with
    /// [`MetricsError::NoMetrics`] when `raise_on_empty_metrics` is on.
    pub fn flush(&self) -> Result<(), MetricsError> {
        let (added_any, sets) = self.with_state(|state| {
            let added = std::mem::take(&mut state.added_any);
            let mut sets = vec![std::mem::take(&mut state.main)];
            sets.extend(
                std::mem::take(&mut state.labeled)
                    .into_iter()
                    .map(|(_, set)| set),
            );
            (added, sets)
        });
        let mut wrote = false;
        for mut set in sets {
            wrote |= !set.metrics.is_empty();
            self.write_set(&mut set, true);
        }
        if !added_any && !wrote {
            if self.inner.raise_on_empty {
                return Err(MetricsError::NoMetrics);
            }
            if !self.inner.warned_empty.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "[powertools] no metrics were added in this invocation: nothing was written (warned once)"
                );
            }
        }
        Ok(())
    }

    /// Writes the `ColdStart` blob if this invocation is the cold start (once).
    pub(crate) fn emit_cold_start(&self, invocation: &Invocation) {
        if self.inner.disabled || !invocation.is_cold_start() {
            return;
        }
        let first =
            self.with_state(|state| !std::mem::replace(&mut state.cold_start_emitted, true));
        if !first {
            return;
        }
        let function_name = self
            .inner
            .function_name
            .clone()
            .or_else(|| invocation.config().function_name().map(str::to_owned))
            .or_else(|| function_name_from_arn(invocation.function_arn()));
        let Some(function_name) =
            function_name.filter(|n| validate_dimension("function_name", n).is_ok())
        else {
            eprintln!(
                "[powertools] ColdStart metric not written: the function name is unknown; set POWERTOOLS_METRICS_FUNCTION_NAME"
            );
            return;
        };
        let mut keys: Vec<&str> = vec!["function_name", SERVICE];
        let mut values: Vec<(&str, &str)> = vec![
            ("function_name", &function_name),
            (SERVICE, &self.inner.service),
        ];
        for (k, v) in &self.inner.default_dimensions {
            if k != "function_name" {
                keys.push(k);
                values.push((k, v));
            }
        }
        let ctx = BlobContext {
            namespace: &self.inner.namespace,
            timestamp_ms: epoch_ms((self.inner.clock)()),
            dimension_sets: &[keys],
            dimension_values: &values,
            metadata: &[],
            level: self.inner.log_level,
        };
        let metric = Metric {
            key: name_key("ColdStart"),
            name: "ColdStart".to_owned(),
            unit: Unit::Count,
            resolution: Resolution::Standard,
            values: vec![1.0],
        };
        write_blobs(&ctx, &[metric], &mut |blob| self.write(blob));
    }

    /// Calls `f` with the blob context of `set`: its dimension sets (each beside `service` and
    /// the default dimensions, written once even when repeated), every dimension's value once,
    /// its metadata and timestamp.
    fn with_context<R>(&self, set: &MetricSet, f: impl FnOnce(&BlobContext<'_>) -> R) -> R {
        let mut base: Vec<(&str, &str)> =
            Vec::with_capacity(1 + self.inner.default_dimensions.len());
        base.push((SERVICE, &self.inner.service));
        base.extend(
            self.inner
                .default_dimensions
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        fn keys_of<'a>(base: &[(&'a str, &'a str)], extra: &'a [(String, String)]) -> Vec<&'a str> {
            base.iter()
                .map(|(k, _)| *k)
                .chain(extra.iter().map(|(k, _)| k.as_str()))
                .collect()
        }
        fn same_keys(a: &[&str], b: &[&str]) -> bool {
            a.len() == b.len() && a.iter().all(|k| b.contains(k))
        }
        let mut sets: Vec<Vec<&str>> = Vec::with_capacity(1 + set.extra_sets.len());
        sets.push(keys_of(&base, &set.dimensions));
        for extra in &set.extra_sets {
            let keys = keys_of(&base, extra);
            // The same set twice would count every value twice.
            if !sets.iter().any(|existing| same_keys(existing, &keys)) {
                sets.push(keys);
            }
        }
        let mut values = base;
        for (k, v) in set.dimensions.iter().chain(set.extra_sets.iter().flatten()) {
            if !values.iter().any(|(existing, _)| existing == k) {
                values.push((k, v));
            }
        }
        let ctx = BlobContext {
            namespace: &self.inner.namespace,
            timestamp_ms: set
                .timestamp_ms
                .unwrap_or_else(|| epoch_ms((self.inner.clock)())),
            dimension_sets: &sets,
            dimension_values: &values,
            metadata: &set.metadata,
            level: self.inner.log_level,
        };
        f(&ctx)
    }

    /// Writes `set`'s metrics (clearing them); `clear_all` also clears its dimensions and
    /// metadata (a full flush), else they stay for the next blob (an automatic split).
    fn write_set(&self, set: &mut MetricSet, clear_all: bool) {
        let metrics = std::mem::take(&mut set.metrics);
        if !metrics.is_empty() && !self.inner.disabled {
            self.with_context(set, |ctx| {
                write_blobs(ctx, &metrics, &mut |blob| self.write(blob));
            });
        }
        if clear_all {
            *set = MetricSet::default();
        }
    }

    fn write(&self, blob: &[u8]) {
        if let Err(error) = (self.inner.sink)(blob)
            && !self.inner.write_failed.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "[powertools] EMF blob could not be written ({error}); further write errors are not reported"
            );
        }
    }
}

fn function_name_from_arn(arn: &str) -> Option<String> {
    // arn:aws:lambda:region:account:function:NAME[:qualifier]
    let mut parts = arn.split(':');
    let kind = parts.nth(5)?;
    (kind == "function")
        .then(|| parts.next())
        .flatten()
        .map(str::to_owned)
}

/// Builds [`Metrics`]: explicit values first, then environment variables.
#[must_use]
#[derive(Default)]
pub struct MetricsBuilder {
    env: Option<Env>,
    config: Option<FunctionConfig>,
    namespace: Option<String>,
    service: Option<String>,
    function_name: Option<String>,
    default_dimensions: Vec<(String, String)>,
    disabled: Option<bool>,
    raise_on_empty: bool,
    log_level_key: Option<bool>,
    sink: Option<Box<Sink>>,
    clock: Option<Arc<Clock>>,
}

impl std::fmt::Debug for MetricsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsBuilder")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl MetricsBuilder {
    /// Reads unset values from `env` instead of the process environment (tests).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Uses this function configuration (service name, function name).
    pub fn function_config(mut self, config: FunctionConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Sets the namespace (else `POWERTOOLS_METRICS_NAMESPACE`; one of them is required).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the `service` dimension (else `POWERTOOLS_SERVICE_NAME`).
    pub fn service_name(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Sets the `function_name` of the `ColdStart` metric (else
    /// `POWERTOOLS_METRICS_FUNCTION_NAME`, else the Lambda function name).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = Some(name.into());
        self
    }

    /// Adds a dimension to every blob (validated by `build`).
    pub fn default_dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_dimensions.push((name.into(), value.into()));
        self
    }

    /// Turns output off (else `POWERTOOLS_METRICS_DISABLED`).
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Makes an invocation that added no metrics an error instead of a warning.
    pub fn raise_on_empty_metrics(mut self, on: bool) -> Self {
        self.raise_on_empty = on;
        self
    }

    /// Adds a root member `"level"` to every blob, set to Lambda's application log level
    /// (`AWS_LAMBDA_LOG_LEVEL`, else `INFO`), so that Lambda's log-level filtering keeps the
    /// blobs. Default: on when `AWS_LAMBDA_LOG_FORMAT` is `JSON` and the application log level
    /// is above `INFO` (Lambda would drop every blob otherwise), off elsewhere.
    pub fn log_level_key(mut self, on: bool) -> Self {
        self.log_level_key = Some(on);
        self
    }

    /// Writes blobs through `writer` (default: stdout), one `write_all` per blob.
    pub fn writer<W, F>(mut self, make_writer: F) -> Self
    where
        F: Fn() -> W + Send + Sync + 'static,
        W: Write,
    {
        self.sink = Some(Box::new(move |blob: &[u8]| {
            let mut writer = make_writer();
            writer.write_all(blob)?;
            writer.flush()
        }));
        self
    }

    /// Reads the time from `clock` (tests).
    pub fn clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Validates and builds the client.
    pub fn build(self) -> Result<Metrics, MetricsError> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let env = self.env.unwrap_or_else(Env::from_env);
        let config_from_env = self.config.is_none();
        let config = self
            .config
            .unwrap_or_else(|| FunctionConfig::from_source(&env));
        let namespace = self
            .namespace
            .or_else(|| env.string("POWERTOOLS_METRICS_NAMESPACE"))
            .ok_or(MetricsError::MissingNamespace)?;
        validate_namespace(&namespace)?;
        const DIMENSION_VALUE: &str = "1 to 1024 ASCII characters (a CloudWatch dimension value)";
        let service = match self.service {
            Some(service) => {
                validate_dimension(SERVICE, &service)?;
                service
            }
            None => {
                let service = config.service_name().to_owned();
                match validate_dimension(SERVICE, &service) {
                    Ok(()) => service,
                    // From the environment: reported, and the default used.
                    Err(_) if config_from_env => {
                        env.report("POWERTOOLS_SERVICE_NAME", &service, DIMENSION_VALUE);
                        DEFAULT_SERVICE_NAME.to_owned()
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let mut default_dimensions: Vec<(String, String)> = Vec::new();
        for (name, value) in self.default_dimensions {
            validate_dimension(&name, &value)?;
            if name == SERVICE {
                return Err(MetricsError::NameClash {
                    name,
                    used_as: "dimension (`service` is always present)",
                });
            }
            match default_dimensions.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => default_dimensions.push((name, value)),
            }
        }
        if 1 + default_dimensions.len() > MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions(
                1 + default_dimensions.len(),
            ));
        }
        let disabled = self
            .disabled
            .unwrap_or_else(|| env.bool("POWERTOOLS_METRICS_DISABLED").unwrap_or(false));
        let json_logs = env
            .string("AWS_LAMBDA_LOG_FORMAT")
            .is_some_and(|format| format.trim().eq_ignore_ascii_case("json"));
        let app_level = env
            .string("AWS_LAMBDA_LOG_LEVEL")
            .and_then(|level| lambda_log_level(&level));
        // Lambda drops JSON lines without `level` below the application level; a missing
        // level counts as INFO.
        let dropped =
            json_logs && app_level.is_some_and(|l| matches!(l, "WARN" | "ERROR" | "FATAL"));
        let log_level = match self.log_level_key {
            Some(true) => Some(app_level.unwrap_or("INFO")),
            Some(false) => None,
            None => app_level.filter(|_| dropped),
        };
        if let Some(level) = app_level.filter(|_| dropped && log_level.is_none() && !disabled) {
            eprintln!("{}", dropped_blobs_warning(level));
        }
        if log_level.is_some()
            && let Some((name, _)) = default_dimensions.iter().find(|(k, _)| k == LEVEL)
        {
            return Err(clash(
                name,
                "root member for Lambda's log-level filtering (see MetricsBuilder::log_level_key)",
            ));
        }
        if let Some(name) = &self.function_name {
            validate_dimension("function_name", name)?;
        }
        let function_name = self
            .function_name
            .or_else(|| {
                env.string("POWERTOOLS_METRICS_FUNCTION_NAME")
                    .filter(|name| {
                        let valid = validate_dimension("function_name", name).is_ok();
                        if !valid {
                            env.report("POWERTOOLS_METRICS_FUNCTION_NAME", name, DIMENSION_VALUE);
                        }
                        valid
                    })
            })
            .or_else(|| config.function_name().map(str::to_owned));
        Ok(Metrics {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                config: Arc::new(config),
                namespace,
                service,
                default_dimensions,
                function_name,
                disabled,
                raise_on_empty: self.raise_on_empty,
                log_level,
                sink: self.sink.unwrap_or_else(|| {
                    Box::new(|blob: &[u8]| {
                        let mut out = std::io::stdout().lock();
                        out.write_all(blob)?;
                        out.flush()
                    })
                }),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                process: Mutex::new(State::default()),
                warned_empty: AtomicBool::new(false),
                write_failed: AtomicBool::new(false),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_gives_the_function_name() {
        assert_eq!(
            function_name_from_arn(
                "arn:aws:lambda:eu-west-1:123456789012:function:orders-api:live"
            )
            .as_deref(),
            Some("orders-api")
        );
        assert_eq!(function_name_from_arn("not an arn"), None);
    }

    #[test]
    fn the_warning_is_a_json_line_that_lambda_keeps_and_names_the_fix() {
        let line = dropped_blobs_warning("ERROR");
        let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(parsed["level"], "ERROR");
        let message = parsed["message"].as_str().unwrap_or_default();
        assert!(message.contains("log_level_key"), "{message}");
        assert!(message.contains("INFO"), "{message}");
        assert_eq!(lambda_log_level(" warn "), Some("WARN"));
        assert_eq!(lambda_log_level("WARNING"), None);
    }

    #[test]
    fn value_limits() {
        assert!(validate_value("m", 0.0).is_ok());
        assert!(validate_value("m", -1.5e100).is_ok());
        assert!(validate_value("m", f64::NAN).is_err());
        assert!(validate_value("m", f64::INFINITY).is_err());
        assert!(validate_value("m", 1e109).is_err());
        assert!(validate_value("m", 1e-110).is_err());
    }
}
