#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod appended;
mod buffer;
mod correlation;
mod error;
mod fields;
mod filter;
mod format;
mod hook;
#[cfg(feature = "http")]
mod http;
mod json;
mod keys;
mod layer;
mod level;
mod line;
mod logger;
mod redaction;
mod render;
mod shared;
mod state;
mod time;
mod value;

pub use buffer::BufferConfig;
pub use correlation::CorrelationPath;
pub use error::LoggerError;
pub use filter::LogFilter;
pub use hook::{LoggerHook, LoggerLayer, LoggerService};
pub use json::Json;
pub use layer::LogLayer;
pub use line::LogLine;
pub use logger::{Logger, LoggerBuilder};

use powertools_core::Invocation;
use serde_json::Value;
use state::InvocationLog;

/// Builds a logger from the environment, writing to stdout, and installs it as the global
/// subscriber ([`Logger::try_init`]). Returns the logger for [`Logger::layer`] and
/// [`Logger::append_keys`].
pub fn try_init() -> Result<Logger, LoggerError> {
    let logger = Logger::from_env();
    logger.try_init()?;
    Ok(logger)
}

/// Adds a key to every line of the current invocation (gone when it ends), as
/// [`Logger::append_keys`] does inside a handler. Returns `false` outside an invocation.
pub fn append_invocation_key(key: impl Into<String>, value: Value) -> bool {
    Invocation::with_current(|invocation| {
        InvocationLog::of(invocation).append_key(key.into(), value);
    })
    .is_some()
}

/// Removes a key added with [`append_invocation_key`] (or [`Logger::append_keys`] in this
/// invocation).
pub fn remove_invocation_key(key: &str) {
    Invocation::with_current(|invocation| InvocationLog::of(invocation).remove_key(key));
}

/// Sets the correlation id of the current invocation (overrides the one from the event).
/// Returns `false` outside an invocation.
pub fn set_correlation_id(id: impl Into<String>) -> bool {
    Invocation::with_current(|invocation| {
        InvocationLog::of(invocation).set_correlation_id(id.into());
    })
    .is_some()
}

/// The correlation id of the running code: the one [`with_correlation_id`] set around it,
/// else the current invocation's, if any.
pub fn correlation_id() -> Option<String> {
    if let Some(id) = powertools_core::scoped_correlation_id() {
        return Some(id.to_string());
    }
    Invocation::with_current(|invocation| InvocationLog::of(invocation).correlation_id()).flatten()
}

/// Runs `future` with `id` as the correlation id of every line it writes, without changing the
/// invocation's: lines written outside `future` (before, after, or beside it in the same
/// invocation) keep the invocation's correlation id. For one record of a batch, one message of
/// a stream, one step of a workflow:
///
/// ```
/// # async fn example(records: Vec<(String, String)>) {
/// for (message_id, body) in records {
///     powertools_logger::with_correlation_id(message_id, async move {
///         tracing::info!(len = body.len(), "record processed"); // correlation_id: message_id
///     })
///     .await;
/// }
/// tracing::info!("batch done"); // the invocation's correlation id again
/// # }
/// ```
///
/// Futures run side by side (`join`, `FuturesUnordered`) each keep their own id. A task
/// spawned inside does not inherit it (wrap the spawned future again).
pub fn with_correlation_id<F: Future>(
    id: impl Into<String>,
    future: F,
) -> impl Future<Output = F::Output> {
    powertools_core::with_correlation_id(id.into(), future)
}

/// [`with_correlation_id`] for synchronous code: runs `f` with `id` as the correlation id of
/// the lines it writes.
pub fn sync_with_correlation_id<R>(id: impl Into<String>, f: impl FnOnce() -> R) -> R {
    powertools_core::sync_with_correlation_id(id.into(), f)
}
