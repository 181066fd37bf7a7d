//! The logger: configuration, the cheap handle users keep, and its builder.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use powertools_core::{ConfigError, Env, FunctionConfig, Invocation};
use serde_json::{Map, Value};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::correlation::{Compiled, CorrelationPath};
use crate::format::{KeyNames, Redaction};
use crate::state::{InvocationLog, lock};

/// Where lines go: any `MakeWriter`, type-erased.
pub(crate) trait LineSink: Send + Sync {
    fn write_line(&self, line: &[u8]) -> std::io::Result<()>;
}

struct MakeWriterSink<M>(M);

impl<M> LineSink for MakeWriterSink<M>
where
    M: for<'a> MakeWriter<'a> + Send + Sync,
{
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut writer = self.0.make_writer();
        writer.write_all(line)?;
        writer.flush()
    }
}

type Formatter = dyn Fn(&mut Map<String, Value>) + Send + Sync;
type Clock = dyn Fn() -> SystemTime + Send + Sync;

/// Log buffering: lines at or below `level` are held per invocation and written only if the
/// invocation logs an error or fails.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct BufferConfig {
    level: tracing::Level,
    max_bytes: usize,
    flush_on_error_log: bool,
}

impl Default for BufferConfig {
    /// DEBUG and TRACE lines, 20,480 bytes, flushed by an ERROR line.
    fn default() -> Self {
        Self {
            level: tracing::Level::DEBUG,
            max_bytes: 20_480,
            flush_on_error_log: true,
        }
    }
}

impl BufferConfig {
    /// Holds lines at `level` and more verbose (default DEBUG).
    pub fn at_level(mut self, level: tracing::Level) -> Self {
        self.level = level;
        self
    }

    /// Holds at most this many bytes per invocation; the oldest lines are evicted first, and a
    /// warning on flush says how many (default 20,480). A single line larger than this is not
    /// buffered: it is written at once, after a warning.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Whether an ERROR line flushes the buffer (default true). A failed invocation always
    /// flushes it when the [`LogContextLayer`](crate::LogContextLayer) is in place.
    pub fn flush_on_error_log(mut self, on: bool) -> Self {
        self.flush_on_error_log = on;
        self
    }

    pub(crate) fn level(&self) -> tracing::Level {
        self.level
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max_bytes
    }

    pub(crate) fn flushes_on_error_log(&self) -> bool {
        self.flush_on_error_log
    }
}

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
        "a global tracing subscriber is already installed: add `logger.layer()` to it instead of calling init"
    )]
    AlreadyInitialized,
}

pub(crate) struct Shared {
    pub(crate) config: Arc<FunctionConfig>,
    pub(crate) level: LevelFilter,
    pub(crate) sample_rate: f64,
    pub(crate) log_event: bool,
    pub(crate) buffer: Option<BufferConfig>,
    pub(crate) redaction: Redaction,
    pub(crate) names: KeyNames,
    pub(crate) formatter: Option<Arc<Formatter>>,
    pub(crate) pretty: bool,
    pub(crate) correlation: Option<Compiled>,
    pub(crate) persistent: RwLock<Vec<(String, Value)>>,
    sink: Box<dyn LineSink>,
    clock: Arc<Clock>,
    write_failed: AtomicBool,
}

impl Shared {
    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Writes one finished line; a failure is reported once on stderr, never returned.
    pub(crate) fn write(&self, line: &[u8]) {
        if let Err(error) = self.sink.write_line(line)
            && !self.write_failed.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "[powertools] log line could not be written ({error}); further write errors are not reported"
            );
        }
    }
}

/// The logger: a cheap handle (an `Arc`) to its configuration and process-wide keys.
///
/// Build it once at INIT, install [`Logger::layer`] in your subscriber (or call
/// [`Logger::init`]), and wrap the handler with [`Logger::context_layer`].
#[derive(Clone)]
pub struct Logger {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("service", &self.shared.config.service_name())
            .field("level", &self.shared.level)
            .field("sample_rate", &self.shared.sample_rate)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// A builder that reads unset values from the process environment.
    pub fn builder() -> LoggerBuilder {
        LoggerBuilder::default()
    }

    /// A logger configured from the environment, writing to stdout. Never fails: malformed
    /// variables are reported once on stderr and their defaults used.
    pub fn from_env() -> Self {
        Self::build_lenient(LoggerBuilder::default())
    }

    fn build_lenient(builder: LoggerBuilder) -> Self {
        match builder.build() {
            Ok(logger) => logger,
            // Only explicit values can fail validation; a plain from_env has none.
            Err(error) => {
                eprintln!("[powertools] logger configuration refused ({error}); using defaults");
                Self::build_defaults()
            }
        }
    }

    fn build_defaults() -> Self {
        LoggerBuilder::default().assemble(Env::from_env(), None)
    }

    /// The level in force.
    pub fn level(&self) -> LevelFilter {
        self.shared.level
    }

    /// The function configuration the logger writes into every line.
    pub fn function_config(&self) -> &FunctionConfig {
        &self.shared.config
    }

    /// Adds keys to the lines of the current invocation: inside a handler (an invocation
    /// scope) they are the invocation's own, gone when it ends and never seen by a concurrent
    /// invocation (as [`append_invocation_key`](crate::append_invocation_key)).
    ///
    /// At INIT, before the first invocation, there is no invocation to scope them to: they are
    /// added to every line, as with [`Logger::append_persistent_keys`].
    ///
    /// **After INIT, outside an invocation scope, nothing is added.** That is where code
    /// spawned by a handler runs (`tokio::spawn`, `tokio::task::spawn_blocking`, a thread):
    /// process-wide keys added from there would silently appear in the lines of every other
    /// invocation, concurrent ones included. A warning (once per process) on stderr says so.
    /// Spawn with [`powertools_core::spawn`] to keep the invocation's scope (its keys, ids and
    /// buffer) in the task, or call [`Logger::append_persistent_keys`] for keys that are truly
    /// the whole process's.
    pub fn append_keys<K, I>(&self, keys: I)
    where
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        self.append_keys_at(powertools_core::is_initialized(), keys);
    }

    /// [`Logger::append_keys`], with whether INIT is over given. Returns whether the keys were
    /// added (to the invocation, or process-wide at INIT).
    fn append_keys_at<K, I>(&self, initialized: bool, keys: I) -> bool
    where
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        match Invocation::current() {
            Some(invocation) => {
                let state = InvocationLog::of(&invocation);
                for (key, value) in keys {
                    state.append_key(key.into(), value);
                }
                true
            }
            None if initialized => {
                warn_unscoped("append_keys", "append_persistent_keys", &UNSCOPED_WARNED);
                false
            }
            None => {
                self.append_persistent_keys(keys);
                true
            }
        }
    }

    /// Removes keys added with [`Logger::append_keys`]: inside an invocation, the invocation's
    /// own; at INIT, process-wide ones (see [`Logger::remove_persistent_keys`]). After INIT,
    /// outside an invocation scope (a task or thread spawned by the handler), nothing is
    /// removed, with the same once-per-process warning as [`Logger::append_keys`]: use
    /// [`Logger::remove_persistent_keys`] for process-wide keys.
    pub fn remove_keys<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        self.remove_keys_at(powertools_core::is_initialized(), keys);
    }

    /// [`Logger::remove_keys`], with whether INIT is over given. Returns whether the keys were
    /// removed.
    fn remove_keys_at<'k>(
        &self,
        initialized: bool,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> bool {
        match Invocation::current() {
            Some(invocation) => {
                let state = InvocationLog::of(&invocation);
                for key in keys {
                    state.remove_key(key);
                }
                true
            }
            None if initialized => {
                warn_unscoped("remove_keys", "remove_persistent_keys", &UNSCOPED_WARNED);
                false
            }
            None => {
                self.remove_persistent_keys(keys);
                true
            }
        }
    }

    /// Adds keys to every line this logger writes from now on, **in every invocation**,
    /// including the ones running concurrently in this process (Lambda Managed Instances).
    /// Meant for INIT or for values true of the whole process (a deployment, a version); for
    /// anything about one request, use [`Logger::append_keys`] inside the handler.
    pub fn append_persistent_keys<K, I>(&self, keys: I)
    where
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        let mut persistent = self
            .shared
            .persistent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, value) in keys {
            let key = key.into();
            match persistent.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => persistent.push((key, value)),
            }
        }
    }

    /// Removes process-wide keys (added at INIT or with [`Logger::append_persistent_keys`]).
    pub fn remove_persistent_keys<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        let mut persistent = self
            .shared
            .persistent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            persistent.retain(|(k, _)| k != key);
        }
    }

    /// Writes the lines the current invocation holds in its buffer (oldest first, with their
    /// original timestamps), preceded by a warning if some were evicted. Does nothing outside
    /// an invocation or when buffering is off.
    pub fn flush_buffer(&self) {
        if let Some(invocation) = Invocation::current() {
            crate::layer::flush(&self.shared, &InvocationLog::of(&invocation), &invocation);
        }
    }

    /// Drops the lines the current invocation holds in its buffer.
    pub fn clear_buffer(&self) {
        if let Some(invocation) = Invocation::current() {
            let _ = lock(&InvocationLog::of(&invocation).buffer).take();
        }
    }

    /// Installs a global subscriber with this logger as its only layer.
    pub fn init(&self) -> Result<(), LoggerError> {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.layer());
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|_| LoggerError::AlreadyInitialized)
    }
}

/// Whether the warning about keys changed outside an invocation after INIT was written.
static UNSCOPED_WARNED: AtomicBool = AtomicBool::new(false);

/// Writes, once per `warned` flag, why `method` changed no keys. Returns whether it wrote.
fn warn_unscoped(method: &str, persistent: &str, warned: &AtomicBool) -> bool {
    if warned.swap(true, Ordering::Relaxed) {
        return false;
    }
    eprintln!(
        "[powertools] Logger::{method} was called outside an invocation scope after INIT (in a task or thread the handler spawned: tokio::spawn, spawn_blocking, std::thread): nothing was changed, as process-wide keys would leak into every other invocation. Spawn with powertools_core::spawn to keep the invocation's scope, or use Logger::{persistent} for keys of the whole process. This warning is written once."
    );
    true
}

/// Builds a [`Logger`]: explicit values first, then environment variables, then defaults.
#[must_use]
#[derive(Default)]
pub struct LoggerBuilder {
    env: Option<Env>,
    config: Option<FunctionConfig>,
    service_name: Option<String>,
    level: Option<LevelFilter>,
    sample_rate: Option<f64>,
    log_event: Option<bool>,
    buffer: Option<BufferConfig>,
    redact: Vec<String>,
    renames: Vec<(String, String)>,
    formatter: Option<Arc<Formatter>>,
    pretty: Option<bool>,
    correlation: Option<CorrelationPath>,
    keys: Vec<(String, Value)>,
    sink: Option<Box<dyn LineSink>>,
    clock: Option<Arc<Clock>>,
}

impl std::fmt::Debug for LoggerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerBuilder").finish_non_exhaustive()
    }
}

impl LoggerBuilder {
    /// Reads unset values from `env` instead of the process environment (tests).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Uses this function configuration instead of one read from the environment.
    pub fn function_config(mut self, config: FunctionConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Sets the service name (else `POWERTOOLS_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Asks for a level. `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) still wins.
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = Some(level);
        self
    }

    /// Logs DEBUG for this share of invocations (0.0 to 1.0; else
    /// `POWERTOOLS_LOGGER_SAMPLE_RATE`), decided per invocation.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rate);
        self
    }

    /// Logs each incoming event at INFO (else `POWERTOOLS_LOGGER_LOG_EVENT`). Redaction applies.
    pub fn log_event(mut self, on: bool) -> Self {
        self.log_event = Some(on);
        self
    }

    /// Turns log buffering on.
    pub fn buffer(mut self, config: BufferConfig) -> Self {
        self.buffer = Some(config);
        self
    }

    /// Replaces the value of this key (any case, at any depth, in any field) with `*****`.
    pub fn redact_key(mut self, key: impl Into<String>) -> Self {
        self.redact.push(key.into());
        self
    }

    /// Writes the standard key `from` (e.g. `function_request_id`) as `to`
    /// (e.g. `lambda_request_id`); an empty `to` omits the key.
    pub fn rename_key(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.renames.push((from.into(), to.into()));
        self
    }

    /// A hook that may change every line (as an ordered JSON object) before it is written.
    pub fn formatter<F>(mut self, formatter: F) -> Self
    where
        F: Fn(&mut Map<String, Value>) + Send + Sync + 'static,
    {
        self.formatter = Some(Arc::new(formatter));
        self
    }

    /// Indented output for local reading (else `POWERTOOLS_DEV`). Ignored when Lambda's JSON
    /// log format is on (`AWS_LAMBDA_LOG_FORMAT=JSON` needs one object per line).
    pub fn pretty(mut self, on: bool) -> Self {
        self.pretty = Some(on);
        self
    }

    /// Extracts the correlation id from each incoming event (with the
    /// [`LogContextLayer`](crate::LogContextLayer)).
    pub fn correlation_id_path(mut self, path: CorrelationPath) -> Self {
        self.correlation = Some(path);
        self
    }

    /// Adds a process-wide key to every line.
    pub fn append_key(mut self, key: impl Into<String>, value: Value) -> Self {
        self.keys.push((key.into(), value));
        self
    }

    /// Writes lines through `writer` (default: stdout), one `write_all` per line. A
    /// `tracing_appender::non_blocking` writer works here.
    pub fn writer<M>(mut self, writer: M) -> Self
    where
        M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.sink = Some(Box::new(MakeWriterSink(writer)));
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

    /// Validates the explicit values and builds the logger.
    pub fn build(mut self) -> Result<Logger, LoggerError> {
        if let Some(rate) = self.sample_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(LoggerError::InvalidSampleRate(rate));
        }
        if self.buffer.as_ref().is_some_and(|b| b.max_bytes == 0) {
            return Err(LoggerError::EmptyBuffer);
        }
        let correlation =
            match &self.correlation {
                Some(path) => Some(Compiled::new(path).map_err(|reason| {
                    LoggerError::InvalidCorrelationPath {
                        path: path.expression().to_owned(),
                        reason,
                    }
                })?),
                None => None,
            };
        let mut names = KeyNames::default();
        for (from, to) in &self.renames {
            if !names.rename(from, to) {
                return Err(LoggerError::UnknownKey(from.clone()));
            }
        }
        let env = self.env.take().unwrap_or_else(Env::from_env);
        let mut config_builder = match self.config.take() {
            Some(config) => config.to_builder(),
            None => FunctionConfig::builder().env(env.clone()),
        };
        if let Some(name) = self.service_name.take() {
            config_builder = config_builder.service_name(name);
        }
        let config = config_builder.build()?;
        let mut logger = self.assemble(env, Some(config));
        if let Some(shared) = Arc::get_mut(&mut logger.shared) {
            shared.correlation = correlation;
            shared.names = names;
        }
        Ok(logger)
    }

    /// Builds without validation: every value is either explicit and already checked, or read
    /// leniently from `env`.
    fn assemble(self, env: Env, config: Option<FunctionConfig>) -> Logger {
        let config = config.unwrap_or_else(|| FunctionConfig::from_source(&env));
        let resolved = crate::level::resolve(&env, self.level);
        if let Some(warning) = &resolved.warning {
            eprintln!("{warning}");
        }
        let sample_rate = self.sample_rate.unwrap_or_else(|| {
            env.parse::<f64>("POWERTOOLS_LOGGER_SAMPLE_RATE", "a number from 0.0 to 1.0")
                .filter(|rate| {
                    let ok = (0.0..=1.0).contains(rate);
                    if !ok {
                        env.report(
                            "POWERTOOLS_LOGGER_SAMPLE_RATE",
                            &rate.to_string(),
                            "a number from 0.0 to 1.0",
                        );
                    }
                    ok
                })
                .unwrap_or(0.0)
        });
        let lambda_json_format = env
            .string("AWS_LAMBDA_LOG_FORMAT")
            .is_some_and(|f| f.eq_ignore_ascii_case("json"));
        let pretty = self.pretty.unwrap_or(config.dev_mode()) && !lambda_json_format;
        Logger {
            shared: Arc::new(Shared {
                level: resolved.level,
                sample_rate,
                log_event: self
                    .log_event
                    .unwrap_or_else(|| env.bool("POWERTOOLS_LOGGER_LOG_EVENT").unwrap_or(false)),
                buffer: self.buffer,
                redaction: Redaction::new(self.redact),
                names: KeyNames::default(),
                formatter: self.formatter,
                pretty,
                correlation: None,
                persistent: RwLock::new(self.keys),
                sink: self
                    .sink
                    .unwrap_or_else(|| Box::new(MakeWriterSink(std::io::stdout))),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                write_failed: AtomicBool::new(false),
                config: Arc::new(config),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn logger() -> Logger {
        Logger::builder()
            .env(Env::from_pairs([("AWS_LAMBDA_FUNCTION_NAME", "f")]).with_reporter(|_| {}))
            .writer(std::io::sink)
            .build()
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn persistent(logger: &Logger) -> Vec<String> {
        lock_read(logger).iter().map(|(k, _)| k.clone()).collect()
    }

    fn lock_read(logger: &Logger) -> std::sync::RwLockReadGuard<'_, Vec<(String, Value)>> {
        logger
            .shared
            .persistent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn outside_an_invocation_keys_are_process_wide_at_init_only() {
        let logger = logger();
        assert!(logger.append_keys_at(false, [("team", json!("checkout"))]));
        assert_eq!(persistent(&logger), ["team"]);
        assert!(!logger.append_keys_at(true, [("owner", json!("o-1"))]));
        assert_eq!(persistent(&logger), ["team"], "nothing added after INIT");
        assert!(!logger.remove_keys_at(true, ["team"]));
        assert_eq!(persistent(&logger), ["team"], "nothing removed after INIT");
        assert!(logger.remove_keys_at(false, ["team"]));
        assert!(persistent(&logger).is_empty());
    }

    #[test]
    fn inside_an_invocation_keys_are_the_invocation_own_before_and_after_init() {
        let logger = logger();
        let invocation = Invocation::builder("r").build();
        invocation.clone().sync_scope(|| {
            for initialized in [false, true] {
                assert!(logger.append_keys_at(initialized, [("owner", json!("o-1"))]));
            }
        });
        assert!(persistent(&logger).is_empty());
        assert_eq!(lock(&InvocationLog::of(&invocation).keys).len(), 1);
    }

    #[test]
    fn the_unscoped_warning_is_written_once() {
        let warned = AtomicBool::new(false);
        assert!(warn_unscoped(
            "append_keys",
            "append_persistent_keys",
            &warned
        ));
        assert!(!warn_unscoped(
            "append_keys",
            "append_persistent_keys",
            &warned
        ));
        assert!(!warn_unscoped(
            "remove_keys",
            "remove_persistent_keys",
            &warned
        ));
    }
}
