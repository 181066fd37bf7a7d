//! The metrics client: a cheap handle that checks each metric, dimension and metadata against
//! the EMF rules and adds it to the current invocation's state (`state.rs`); `output.rs` renders
//! and writes the blobs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powertools_core::{FunctionConfig, Invocation, epoch_millis};
use serde_json::Value;

use crate::emf::{
    MAX_BLOB_BYTES, MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES, Metric, MetricName, name_key,
};
use crate::error::MetricsError;
use crate::output::{Output, Pending};
use crate::state::{Combine, MetricSet, State, with_state};
use crate::unit::{Resolution, Unit};
use crate::validate::{
    DIRECTIVE, LEVEL, LEVEL_MEMBER, clash, validate_dimension, validate_metric_name, validate_value,
};

/// What one metric can take in a blob at most (its definition and root member with 100 values,
/// names escaped): the dimensions leave at least this much of a 256 KB event free.
const ROOM_FOR_ONE_METRIC: usize = 8 * 1024;
const MAX_PAST: Duration = Duration::from_secs(14 * 24 * 3600);
const MAX_FUTURE: Duration = Duration::from_secs(2 * 3600);

/// The metric of [`MetricsBuilder::idempotent_replay_metric`](crate::MetricsBuilder::idempotent_replay_metric).
pub const REPLAY_METRIC: &str = "IdempotentReplay";

/// A client's configuration, validated by the builder.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The namespace, dimensions, clock and writer of every blob.
    pub(crate) output: Output,
    pub(crate) function_name: Option<String>,
    pub(crate) raise_on_empty: bool,
    /// Whether a replayed invocation gets the `IdempotentReplay` metric.
    pub(crate) replay_metric: bool,
}

struct Inner {
    id: u64,
    settings: Settings,
    process: Mutex<State>,
    warned_empty: AtomicBool,
}

/// The metrics client: a cheap handle (an `Arc`). Build it once at INIT.
///
/// Within an invocation opened by the [`MetricsLayer`](crate::MetricsLayer) (or any Powertools
/// layer), metrics go to that invocation's own set, flushed when it ends; outside one, to a
/// process-wide set flushed by [`Metrics::flush`].
///
/// ```
/// use powertools_metrics::{Metrics, Unit};
/// use powertools_testing::CapturedOutput;
///
/// let captured = CapturedOutput::new(); // in Lambda: stdout, the default
/// let metrics = Metrics::builder()
///     .namespace("Orders")
///     .service_name("orders")
///     .writer(captured.line_writer())
///     .build()?;
/// metrics.add_metric("OrderAccepted", Unit::Count, 1.0)?;
/// metrics.flush()?; // the layer does this at the end of every invocation
/// let blob = &captured.json_lines()?[0];
/// assert_eq!(blob["OrderAccepted"], serde_json::json!([1.0]));
/// assert_eq!(blob["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Orders");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &self.output().namespace)
            .field("service", &self.output().service())
            .field("disabled", &self.output().disabled)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// A client with `settings` (validated by the builder).
    pub(crate) fn new(settings: Settings) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                settings,
                process: Mutex::new(State::default()),
                warned_empty: AtomicBool::new(false),
            }),
        }
    }

    fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn output(&self) -> &Output {
        &self.inner.settings.output
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.output().namespace
    }

    /// The function configuration the layer gives the invocations it opens.
    pub(crate) fn function_config(&self) -> &FunctionConfig {
        &self.output().config
    }

    /// Runs `f` on this client's state in the current invocation (else the process's), locked.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        with_state(self.inner.id, &self.inner.process, f)
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
        let mut pending = Pending::new();
        let added = self.with_state(|state| {
            state.added_any = true;
            self.add_to_set_in(
                state,
                &mut pending,
                None,
                name,
                unit,
                resolution,
                value,
                Combine::Append,
            )
        });
        self.output().write_pending(pending);
        added
    }

    /// Adds a value to the set of `labels` (or the main set). When a limit would be passed,
    /// the set's metrics so far are rendered into `pending` first (for the caller to write
    /// once the state is released).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_to_set_in(
        &self,
        state: &mut State,
        pending: &mut Pending,
        labels: Option<&[(String, String)]>,
        name: &str,
        unit: Unit,
        resolution: Resolution,
        value: f64,
        combine: Combine,
    ) -> Result<(), MetricsError> {
        self.check_root_name(name)?;
        let set = state.set_mut(labels);
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
        let new_metric = || Metric {
            key,
            name: MetricName::new(name),
            unit,
            resolution,
            values: smallvec::smallvec![value],
        };
        match set.find_metric(key, name) {
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
                    self.output().render_split(set, pending);
                    set.metrics.push(new_metric());
                } else {
                    let values = &mut set.metrics[index].values;
                    if values.len() == 1 {
                        // Leaving the inline value: room for several, not one more at a time.
                        values.reserve(15);
                    }
                    values.push(value);
                }
            }
            None => {
                if set.metrics.len() >= MAX_METRICS {
                    self.output().render_split(set, pending);
                }
                set.metrics.push(new_metric());
            }
        }
        Ok(())
    }

    fn is_dimension(&self, set: &MetricSet, name: &str) -> bool {
        self.output().fixed_dimension(name).is_some() || set.dimension(name).is_some()
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
        let existing = self
            .output()
            .fixed_dimension(name)
            .or_else(|| set.dimension(name));
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
        if self.output().log_level.is_some() && name == LEVEL {
            return Err(clash(name, LEVEL_MEMBER));
        }
        Ok(())
    }

    /// Refuses dimensions that would leave less than [`ROOM_FOR_ONE_METRIC`] of a blob for
    /// metrics (many large dimension sets).
    fn check_size(&self, set: &MetricSet) -> Result<(), MetricsError> {
        let bytes = self.output().bytes_without_metrics(set);
        if bytes + ROOM_FOR_ONE_METRIC > MAX_BLOB_BYTES {
            return Err(MetricsError::DimensionsTooLarge { bytes });
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
            if self.output().fixed_dimension(name).is_some()
                || set.dimensions.iter().any(|(k, _)| k == name)
            {
                return Ok(());
            }
            let count = self.output().fixed_dimensions() + set.dimensions.len() + 1;
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
                if self.output().fixed_dimension(name).is_none() {
                    new.push(((*name).to_owned(), (*value).to_owned()));
                }
            }
            let count = self.output().fixed_dimensions() + new.len();
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
        let now = self.output().clock.now();
        let ms = epoch_millis(timestamp);
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
        let count = self.output().fixed_dimensions() + set.dimensions.len();
        if count > MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions(count));
        }
        if self.is_dimension(&set, name) {
            return Err(clash(name, "dimension"));
        }
        set.metrics.push(Metric {
            key: name_key(name),
            name: MetricName::new(name),
            unit,
            resolution: Resolution::Standard,
            values: smallvec::smallvec![value],
        });
        self.output().write_set(&mut set);
        Ok(())
    }

    /// Writes the current invocation's (or, outside one, the process's) metrics now and clears
    /// them. An empty flush warns once on stderr, or fails with
    /// [`MetricsError::NoMetrics`] when `raise_on_empty_metrics` is on.
    pub fn flush(&self) -> Result<(), MetricsError> {
        // An idempotent replay is the invocation's work: the handler did not run.
        let replays = Invocation::with_current(Invocation::replays).unwrap_or(0);
        if replays > 0 && self.settings().replay_metric {
            self.add_metric(REPLAY_METRIC, Unit::Count, f64::from(replays))?;
        }
        // Taken out under the lock, written after it is released.
        let mut pending = Pending::new();
        // Counter sums that could not be added: reported once the state is released.
        let mut left_out = Vec::new();
        let (added_any, sets) = self.with_state(|state| {
            for (cell, sum) in state.take_deferred() {
                let (unit, _) = crate::recorder::counter_unit(cell.unit.load(Ordering::Relaxed));
                let labels = (!cell.labels.is_empty()).then_some(cell.labels.as_slice());
                let added = self.add_to_set_in(
                    state,
                    &mut pending,
                    labels,
                    &cell.name,
                    unit,
                    Resolution::Standard,
                    sum as f64,
                    Combine::Sum,
                );
                if let Err(e) = added {
                    left_out.push((cell, sum, e));
                }
            }
            state.take_sets()
        });
        self.output().write_pending(pending);
        for (cell, sum, e) in left_out {
            powertools_core::warn(format_args!("metric {:?}: {e}; {sum} left out", cell.name));
        }
        let mut wrote = false;
        for mut set in sets {
            wrote |= !set.metrics.is_empty();
            self.output().write_set(&mut set);
        }
        if !added_any && !wrote && replays == 0 {
            if self.settings().raise_on_empty {
                return Err(MetricsError::NoMetrics);
            }
            if !self.inner.warned_empty.swap(true, Ordering::Relaxed) {
                powertools_core::warn(format_args!(
                    "no metrics were added in this invocation: nothing was written (warned once)"
                ));
            }
        }
        Ok(())
    }

    /// Writes the `ColdStart` blob if this invocation is the cold start (once).
    pub(crate) fn emit_cold_start(&self, invocation: &Invocation) {
        let settings = self.settings();
        if settings.output.disabled || !invocation.is_cold_start() {
            return;
        }
        let first =
            self.with_state(|state| !std::mem::replace(&mut state.cold_start_emitted, true));
        if !first {
            return;
        }
        let function_name = settings
            .function_name
            .clone()
            .or_else(|| invocation.config().function_name().map(str::to_owned))
            .or_else(|| function_name_from_arn(invocation.function_arn()));
        let Some(function_name) =
            function_name.filter(|n| validate_dimension("function_name", n).is_ok())
        else {
            powertools_core::warn(format_args!(
                "ColdStart metric not written: the function name is unknown; set POWERTOOLS_METRICS_FUNCTION_NAME"
            ));
            return;
        };
        settings.output.write_cold_start(&function_name);
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

#[cfg(test)]
mod tests {
    use super::*;
    use powertools_core::{Env, LineWriter};
    use std::sync::OnceLock;

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
    fn blobs_split_by_a_limit_are_written_after_the_state_is_released() {
        let client: Arc<OnceLock<Metrics>> = Arc::new(OnceLock::new());
        let unlocked = Arc::new(Mutex::new(Vec::<bool>::new()));
        let (slot, seen) = (Arc::clone(&client), Arc::clone(&unlocked));
        let writer = LineWriter::from_fn(move |_| {
            if let Some(m) = slot.get() {
                seen.lock()
                    .unwrap()
                    .push(m.inner.process.try_lock().is_ok());
            }
            Ok(())
        });
        let m = Metrics::builder()
            .env(Env::from_pairs([(
                "POWERTOOLS_METRICS_NAMESPACE",
                "Orders",
            )]))
            .writer(writer)
            .build()
            .unwrap();
        client.set(m.clone()).unwrap();
        // Outside an invocation: the process-wide state. The 101st metric and the 101st value
        // of a metric each start a new blob.
        for n in 0..=MAX_METRICS {
            m.add_metric(&format!("m{n}"), Unit::Count, 1.0).unwrap();
        }
        for _ in 0..=MAX_VALUES {
            m.add_metric("m0", Unit::Count, 1.0).unwrap();
        }
        let split = unlocked.lock().unwrap().clone();
        assert_eq!(split, [true, true]);
        m.flush().unwrap();
        assert_eq!(unlocked.lock().unwrap().len(), 3);
        assert!(unlocked.lock().unwrap().iter().all(|free| *free));
    }
}
