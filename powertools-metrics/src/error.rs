//! What the metrics client refuses, instead of letting CloudWatch drop it silently.

/// A metric, dimension, metadata or configuration that would break an EMF rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// No namespace was configured.
    #[error(
        "metrics namespace is missing: set POWERTOOLS_METRICS_NAMESPACE or call .namespace(..) on the builder"
    )]
    MissingNamespace,
    /// The namespace breaks CloudWatch's rules.
    #[error(
        "metrics namespace {0:?} is invalid: use 1 to 255 characters among A-Z, a-z, 0-9, '.', '-', '_', '/', '#', ':' and space, not starting with \"AWS/\""
    )]
    InvalidNamespace(String),
    /// A metric name is empty, too long or blank.
    #[error("metric name {0:?} is invalid: use 1 to 255 characters, not all whitespace")]
    InvalidMetricName(String),
    /// A metric value is NaN, infinite, or outside the range CloudWatch stores.
    #[error(
        "metric {name:?} got value {value}: CloudWatch accepts only finite values between -2^360 and 2^360 (and not closer to 0 than 2^-360)"
    )]
    InvalidValue {
        /// The metric.
        name: String,
        /// The value refused.
        value: f64,
    },
    /// A metric was added again with another unit or resolution.
    #[error(
        "metric {name:?} was added as {first} and now as {second}: a metric keeps one unit and one resolution"
    )]
    ConflictingMetric {
        /// The metric.
        name: String,
        /// How it was first added.
        first: String,
        /// How it was added now.
        second: String,
    },
    /// A dimension name is empty, too long, not ASCII or starts with a colon.
    #[error(
        "dimension name {0:?} is invalid: use 1 to 250 ASCII characters, not starting with ':'"
    )]
    InvalidDimensionName(String),
    /// A dimension value is empty, blank, too long or not ASCII.
    #[error(
        "dimension {name:?} has invalid value {value:?}: use 1 to 1024 ASCII characters, not all whitespace"
    )]
    InvalidDimensionValue {
        /// The dimension.
        name: String,
        /// The value refused.
        value: String,
    },
    /// More than 29 dimensions beside `service` in one dimension set.
    #[error(
        "dimension set would have {0} dimensions: EMF allows 30 including `service`, so at most 29 of your own"
    )]
    TooManyDimensions(usize),
    /// A name is already used by another root member (dimension, metric or metadata key).
    #[error(
        "{name:?} is already used as a {used_as} in this blob: every dimension, metric and metadata key is a distinct root member"
    )]
    NameClash {
        /// The name.
        name: String,
        /// What it is already.
        used_as: &'static str,
    },
    /// The dimension sets and values would leave no room for metrics in a 256 KB log event.
    #[error(
        "the dimension sets and their values would take {bytes} bytes of every blob: a CloudWatch log event holds 256 KB and the metrics need room too; use fewer or shorter dimension sets"
    )]
    DimensionsTooLarge {
        /// What the dimensions would take, in bytes of each blob.
        bytes: usize,
    },
    /// A dimension already has another value.
    #[error(
        "dimension {name:?} already has value {existing:?}; a blob holds one value per dimension: use single_metric for {new:?}"
    )]
    ConflictingDimension {
        /// The dimension.
        name: String,
        /// Its value.
        existing: String,
        /// The value refused.
        new: String,
    },
    /// The timestamp is more than 14 days in the past or 2 hours in the future.
    #[error(
        "metric timestamp {timestamp_ms} ms is outside what CloudWatch accepts (14 days in the past to 2 hours in the future)"
    )]
    InvalidTimestamp {
        /// The timestamp refused, in epoch milliseconds.
        timestamp_ms: u64,
    },
    /// The invocation added no metrics and the client was told that is an error.
    #[error("no metrics were added in this invocation (raise_on_empty_metrics is on)")]
    NoMetrics,
    /// An explicit value of the configuration every utility shares is refused (an empty
    /// service name).
    #[error(transparent)]
    Config(#[from] powertools_core::ConfigError),
}
