//! How a metric set becomes EMF blobs and reaches the writer: the namespace, the dimensions
//! every blob carries (`service` and the default dimensions), the timestamp and the `level`
//! member.

use powertools_core::{Clock, FunctionConfig, LineWriter};

use crate::emf::{BlobContext, Metric, MetricName, name_key, write_blob, write_blobs};
use crate::state::MetricSet;
use crate::unit::{Resolution, Unit};
use crate::validate::SERVICE;

/// Blobs rendered while a state is locked, written once it is released (never write with the
/// lock held: a slow stdout would stall every other caller of the same state).
pub(crate) type Pending = Vec<Vec<u8>>;

/// What every blob of a client shares, and where blobs go.
#[derive(Debug)]
pub(crate) struct Output {
    /// The function configuration; its service name is the `service` dimension.
    pub(crate) config: FunctionConfig,
    pub(crate) clock: Clock,
    pub(crate) namespace: String,
    pub(crate) default_dimensions: Vec<(String, String)>,
    pub(crate) disabled: bool,
    /// The root member `level` of every blob (see `MetricsBuilder::log_level_key`).
    pub(crate) log_level: Option<&'static str>,
    pub(crate) writer: LineWriter,
}

impl Output {
    /// The `service` dimension: the function configuration's service name.
    pub(crate) fn service(&self) -> &str {
        self.config.service_name()
    }

    /// The value of `service` or of a default dimension (present in every dimension set).
    pub(crate) fn fixed_dimension(&self, name: &str) -> Option<&str> {
        if name == SERVICE {
            return Some(self.service());
        }
        self.default_dimensions
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// How many dimensions every set holds (`service` and the default dimensions).
    pub(crate) fn fixed_dimensions(&self) -> usize {
        1 + self.default_dimensions.len()
    }

    /// The bytes a blob of `set` takes without any metric.
    pub(crate) fn bytes_without_metrics(&self, set: &MetricSet) -> usize {
        let mut out = Vec::new();
        self.with_context(set, |ctx| write_blob(&mut out, ctx, &[], false));
        out.len()
    }

    /// Writes the `ColdStart` blob: `ColdStart` (Count, 1) by `function_name`, `service` and
    /// the default dimensions.
    pub(crate) fn write_cold_start(&self, function_name: &str) {
        let mut keys: Vec<&str> = vec!["function_name", SERVICE];
        let mut values: Vec<(&str, &str)> =
            vec![("function_name", function_name), (SERVICE, self.service())];
        for (k, v) in &self.default_dimensions {
            if k != "function_name" {
                keys.push(k);
                values.push((k, v));
            }
        }
        let ctx = BlobContext {
            namespace: &self.namespace,
            timestamp_ms: self.clock.epoch_millis(),
            dimension_sets: &[keys],
            dimension_values: &values,
            metadata: &[],
            level: self.log_level,
        };
        let metric = Metric {
            key: name_key("ColdStart"),
            name: MetricName::new("ColdStart"),
            unit: Unit::Count,
            resolution: Resolution::Standard,
            values: smallvec::smallvec![1.0],
        };
        write_blobs(&ctx, &[metric], &mut |blob| self.write(blob));
    }

    /// Calls `f` with the blob context of `set`: its dimension sets (each beside `service` and
    /// the default dimensions, written once even when repeated), every dimension's value once,
    /// its metadata and timestamp.
    fn with_context<R>(&self, set: &MetricSet, f: impl FnOnce(&BlobContext<'_>) -> R) -> R {
        let mut base: Vec<(&str, &str)> = Vec::with_capacity(self.fixed_dimensions());
        base.push((SERVICE, self.service()));
        base.extend(
            self.default_dimensions
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
            namespace: &self.namespace,
            timestamp_ms: set
                .timestamp_ms
                .unwrap_or_else(|| self.clock.epoch_millis()),
            dimension_sets: &sets,
            dimension_values: &values,
            metadata: &set.metadata,
            level: self.log_level,
        };
        f(&ctx)
    }

    /// Renders `set`'s metrics to `emit` (clearing them); `clear_all` also clears its
    /// dimensions and metadata (a full flush), else they stay for the next blob (an automatic
    /// split).
    pub(crate) fn render_set(
        &self,
        set: &mut MetricSet,
        clear_all: bool,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let metrics = set.take_metrics();
        if !metrics.is_empty() && !self.disabled {
            self.with_context(set, |ctx| write_blobs(ctx, &metrics, emit));
        }
        if clear_all {
            *set = MetricSet::default();
        }
    }

    /// Renders `set`'s metrics into `pending`, keeping its dimensions and metadata for the
    /// next blob (an automatic split, under the state's lock).
    pub(crate) fn render_split(&self, set: &mut MetricSet, pending: &mut Pending) {
        self.render_set(set, false, &mut |blob| pending.push(blob.to_vec()));
    }

    /// Writes `set` (no state is locked) and clears it.
    pub(crate) fn write_set(&self, set: &mut MetricSet) {
        self.render_set(set, true, &mut |blob| self.write(blob));
    }

    /// Writes blobs rendered under a lock, once it is released.
    pub(crate) fn write_pending(&self, pending: Pending) {
        for blob in &pending {
            self.write(blob);
        }
    }

    fn write(&self, blob: &[u8]) {
        // A failure is reported once by the writer; the handler goes on.
        let _ = self.writer.write_line(blob);
    }
}
