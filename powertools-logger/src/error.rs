//! What building or installing a logger can refuse.

use powertools_core::ConfigError;

/// A configuration the builder refuses, or a failed installation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggerError {
    /// The sample rate is not within 0.0 to 1.0.
    #[error(
        "sample rate {0} is outside 0.0..=1.0: use e.g. 0.1 to log DEBUG for 10% of invocations"
    )]
    InvalidSampleRate(f64),
    /// The correlation id path is not valid JMESPath.
    #[error("correlation id path {path:?} is not valid JMESPath: {reason}")]
    InvalidCorrelationPath {
        /// The expression.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// The correlation id header is not a valid HTTP header name.
    #[cfg(feature = "http")]
    #[error("correlation id header {0:?} is not a valid HTTP header name")]
    InvalidHeaderName(String),
    /// A key to rename is not one of the standard keys.
    #[error(
        "cannot rename {0:?}: it is not a standard key (level, location, message, timestamp, service, cold_start, function_name, function_memory_size, function_arn, function_request_id, tenant_id, xray_trace_id, correlation_id, sampling_rate)"
    )]
    UnknownKey(String),
    /// The buffer size is zero.
    #[error(
        "log buffer of 0 bytes would hold nothing: set max_bytes above 0 or leave buffering off"
    )]
    EmptyBuffer,
    /// The function configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A global subscriber was already installed.
    #[error(
        "a global tracing subscriber is already installed: add `logger.tracing_layer()` to it instead of calling try_init"
    )]
    AlreadyInitialized,
}
