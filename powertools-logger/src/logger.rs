//! The logger: the cheap handle users keep, and its builder.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use powertools_core::{
    Clock, CommonConfig, Env, FunctionConfig, Invocation, InvocationLayer, LineWriter,
};
use serde_json::Value;
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::registry::LookupSpan;

use crate::buffer::BufferConfig;
use crate::correlation::{Compiled, CorrelationPath};
use crate::error::LoggerError;
use crate::filter::LogFilter;
use crate::hook::{LoggerHook, LoggerLayer};
use crate::keys::KeyNames;
use crate::layer::LogLayer;
use crate::line::LogLine;
use crate::redaction::Redaction;
use crate::render::flush;
use crate::shared::{Formatter, Shared};
use crate::state::{InvocationLog, set_key};

/// The logger: a cheap handle (an `Arc`) to its configuration and process-wide keys.
///
/// Build it once at INIT, install [`Logger::tracing_layer`] in your subscriber (or call
/// [`Logger::try_init`]), and wrap the handler with [`Logger::layer`].
#[derive(Clone)]
///
/// ```
/// use powertools_logger::Logger;
/// use powertools_testing::{CapturedOutput, lambda_env};
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let captured = CapturedOutput::new(); // in Lambda: stdout, the default
/// let logger = Logger::builder()
///     .env(lambda_env([("POWERTOOLS_SERVICE_NAME", "orders")]))
///     .writer(captured.line_writer())
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(logger.tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(order_id = "o-1", "order accepted");
/// });
/// let line = &captured.json_lines()?[0];
/// assert_eq!(line["message"], "order accepted");
/// assert_eq!(line["service"], "orders");
/// assert_eq!(line["order_id"], "o-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Logger {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("service", &self.shared.service_name())
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
                powertools_core::warn(format_args!(
                    "logger configuration refused ({error}); using defaults"
                ));
                Self::build_defaults()
            }
        }
    }

    fn build_defaults() -> Self {
        let env = Env::from_env();
        let config = FunctionConfig::from_source(&env);
        LoggerBuilder::default().assemble(env, config, Clock::system(), Checked::default())
    }

    /// The level in force.
    pub fn level(&self) -> LevelFilter {
        self.shared.level
    }

    /// The function configuration the logger writes into every line.
    pub fn function_config(&self) -> &FunctionConfig {
        self.shared.function_config()
    }

    /// The tower layer for the handler (see [`LoggerHook`]): it opens the invocation scope
    /// (re-entrant, so it can stand in for `powertools_core::InvocationLayer`), sets the
    /// correlation id, logs the event when asked, and flushes or drops the log buffer.
    pub fn layer(&self) -> LoggerLayer {
        InvocationLayer::new(self.function_config().clone())
            .hook(LoggerHook::new(Arc::clone(&self.shared)))
    }

    /// The `tracing` layer writing this logger's lines, with the logger's level, sampling and
    /// buffering as its own per-layer filter: other layers of the subscriber (the X-Ray span
    /// layer, OpenTelemetry, your own) still see every span and event their own filters let
    /// through. Add it to a `tracing_subscriber::registry()`.
    pub fn tracing_layer<S>(&self) -> Filtered<LogLayer, LogFilter, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        LogLayer::new(Arc::clone(&self.shared))
            .with_filter(LogFilter::new(Arc::clone(&self.shared)))
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
            set_key(&mut persistent, key.into(), value);
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
            flush(&self.shared, &InvocationLog::of(&invocation), &invocation);
        }
    }

    /// Drops the lines the current invocation holds in its buffer.
    pub fn clear_buffer(&self) {
        if let Some(invocation) = Invocation::current() {
            InvocationLog::of(&invocation).clear_buffer();
        }
    }

    /// Installs a global subscriber with this logger's [`tracing_layer`](Self::tracing_layer)
    /// as its only layer; fails if a global subscriber is already installed.
    pub fn try_init(&self) -> Result<(), LoggerError> {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(self.tracing_layer());
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|_| LoggerError::AlreadyInitialized)
    }

    /// Installs a global subscriber with this logger's [`tracing_layer`](Self::tracing_layer)
    /// and `layer` beside it: the tracer's span layer, an OpenTelemetry layer, your own (several
    /// with `Layer::and_then`, or a `Vec` of boxed layers). Each keeps its own filter, so the
    /// logger's level does not hide spans from `layer`. Fails if a global subscriber is already
    /// installed.
    ///
    /// ```no_run
    /// let logger = powertools_logger::Logger::from_env();
    /// // With powertools-tracer: `logger.try_init_with(tracer.tracing_layer())?`.
    /// let other_layer = tracing_subscriber::layer::Identity::new();
    /// logger.try_init_with(other_layer)?;
    /// # Ok::<(), powertools_logger::LoggerError>(())
    /// ```
    pub fn try_init_with<L>(&self, layer: L) -> Result<(), LoggerError>
    where
        L: tracing_subscriber::Layer<
                tracing_subscriber::layer::Layered<
                    Filtered<LogLayer, LogFilter, tracing_subscriber::Registry>,
                    tracing_subscriber::Registry,
                >,
            > + Send
            + Sync
            + 'static,
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(self.tracing_layer())
            .with(layer);
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
    powertools_core::warn(format_args!(
        "Logger::{method} was called outside an invocation scope after INIT (in a task or thread the handler spawned: tokio::spawn, spawn_blocking, std::thread): nothing was changed, as process-wide keys would leak into every other invocation. Spawn with powertools_core::spawn to keep the invocation's scope, or use Logger::{persistent} for keys of the whole process. This warning is written once."
    ));
    true
}

/// What `build` compiled from the explicit values.
#[derive(Default)]
struct Checked {
    correlation: Option<Compiled>,
    #[cfg(feature = "http")]
    correlation_header: Option<http::HeaderName>,
    names: KeyNames,
}

/// Builds a [`Logger`]: explicit values first, then environment variables, then defaults.
#[must_use]
#[derive(Default)]
///
/// ```
/// use powertools_logger::{CorrelationPath, Logger};
/// use tracing::level_filters::LevelFilter;
///
/// let logger = Logger::builder()
///     .service_name("orders") // else POWERTOOLS_SERVICE_NAME
///     .level(LevelFilter::DEBUG) // else POWERTOOLS_LOG_LEVEL, then LOG_LEVEL
///     .correlation_id_path(CorrelationPath::ApiGatewayHttp)
///     .redact_key("password")
///     .build()?;
/// assert_eq!(logger.level(), LevelFilter::DEBUG);
/// # Ok::<(), powertools_logger::LoggerError>(())
/// ```
pub struct LoggerBuilder {
    common: CommonConfig,
    level: Option<LevelFilter>,
    sample_rate: Option<f64>,
    log_event: Option<bool>,
    buffer: Option<BufferConfig>,
    redact: Vec<String>,
    renames: Vec<(String, String)>,
    formatter: Option<Arc<Formatter>>,
    pretty: Option<bool>,
    correlation: Option<CorrelationPath>,
    #[cfg(feature = "http")]
    correlation_header: Option<String>,
    #[cfg(feature = "http")]
    log_http_body: bool,
    keys: Vec<(String, Value)>,
    writer: Option<LineWriter>,
}

impl std::fmt::Debug for LoggerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerBuilder").finish_non_exhaustive()
    }
}

impl LoggerBuilder {
    powertools_core::common_setters!(common);

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

    /// A hook that may change every line (its keys in order, as a [`LogLine`]) before it is
    /// written.
    pub fn formatter<F>(mut self, formatter: F) -> Self
    where
        F: Fn(&mut LogLine) + Send + Sync + 'static,
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
    /// [`LoggerLayer`](crate::LoggerLayer)). Custom paths may use the Powertools JMESPath
    /// functions: `powertools_json(body).order_id`.
    pub fn correlation_id_path(mut self, path: CorrelationPath) -> Self {
        self.correlation = Some(path);
        self
    }

    /// Takes the correlation id of an HTTP request (feature `http`: a `lambda_http` service,
    /// an axum `Router`) from this header (any case), e.g. `x-correlation-id`. When the
    /// request has no such header, the id is taken as without this option: by the
    /// [`correlation_id_path`](Self::correlation_id_path) if set, else from the request
    /// itself (the request context's request id for REST, HTTP API and function URL requests,
    /// the `x-amzn-trace-id` header for ALB). Applies to HTTP requests only; a `LambdaEvent`'s
    /// correlation id comes from its path. [`build`](Self::build) refuses an invalid header
    /// name.
    #[cfg(feature = "http")]
    pub fn correlation_id_header(mut self, name: impl Into<String>) -> Self {
        self.correlation_header = Some(name.into());
        self
    }

    /// Adds the body to the request line of an HTTP request (feature `http`) when events are
    /// logged ([`log_event`](Self::log_event) or `POWERTOOLS_LOGGER_LOG_EVENT`); off by
    /// default. A JSON body is written as JSON (redaction applies to its keys), other text as
    /// a string, binary as base64 with `"is_base64_encoded": true`. Only bodies the logger
    /// can read without consuming them are written: `lambda_http::Body` (what
    /// `lambda_http::run` hands the service), `String` and `Vec<u8>`.
    #[cfg(feature = "http")]
    pub fn log_http_body(mut self, on: bool) -> Self {
        self.log_http_body = on;
        self
    }

    /// Adds a process-wide key to every line.
    pub fn append_key(mut self, key: impl Into<String>, value: Value) -> Self {
        self.keys.push((key.into(), value));
        self
    }

    /// Writes lines through `writer` (default: stdout), each line whole, with one write.
    /// `LineWriter::new(writer)` takes any `Fn() -> impl Write` (a
    /// `tracing_appender::non_blocking` writer works there).
    pub fn writer(mut self, writer: LineWriter) -> Self {
        self.writer = Some(writer);
        self
    }

    /// Validates the explicit values and builds the logger.
    pub fn build(self) -> Result<Logger, LoggerError> {
        if let Some(rate) = self.sample_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(LoggerError::InvalidSampleRate(rate));
        }
        if self.buffer.as_ref().is_some_and(|b| b.capacity() == 0) {
            return Err(LoggerError::EmptyBuffer);
        }
        let correlation =
            match &self.correlation {
                Some(path) => Some(Compiled::new(path).map_err(|reason| {
                    LoggerError::InvalidCorrelationPath {
                        path: path.expression().to_owned(),
                        reason: reason.to_string(),
                    }
                })?),
                None => None,
            };
        #[cfg(feature = "http")]
        let correlation_header = match &self.correlation_header {
            Some(name) => Some(
                http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| LoggerError::InvalidHeaderName(name.clone()))?,
            ),
            None => None,
        };
        let mut names = KeyNames::default();
        for (from, to) in &self.renames {
            if !names.rename(from, to) {
                return Err(LoggerError::UnknownKey(from.clone()));
            }
        }
        // The service name is resolved as by every utility: explicit, else the function
        // configuration's, else `POWERTOOLS_SERVICE_NAME`, else `service_undefined`.
        let common = self.common.resolve()?;
        let (env, config, clock) = (
            common.env().clone(),
            common.function_config().clone(),
            common.clock().clone(),
        );
        let checked = Checked {
            correlation,
            #[cfg(feature = "http")]
            correlation_header,
            names,
        };
        Ok(self.assemble(env, config, clock, checked))
    }

    /// Builds without validation: every value is either explicit and already checked, or read
    /// leniently from `env`.
    fn assemble(self, env: Env, config: FunctionConfig, clock: Clock, checked: Checked) -> Logger {
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
                names: checked.names,
                formatter: self.formatter,
                pretty,
                correlation: checked.correlation,
                #[cfg(feature = "http")]
                correlation_header: checked.correlation_header,
                #[cfg(feature = "http")]
                log_http_body: self.log_http_body,
                persistent: RwLock::new(self.keys),
                writer: self.writer.unwrap_or_default(),
                clock,
                process_values: crate::render::ProcessValues::new(&config),
                config,
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
            .env(
                powertools_testing::lambda_env([("AWS_LAMBDA_FUNCTION_NAME", "f")])
                    .with_reporter(|_| {}),
            )
            .writer(LineWriter::new(std::io::sink))
            .build()
            .unwrap()
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
        assert_eq!(
            crate::state::lock(&InvocationLog::of(&invocation).keys).len(),
            1
        );
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
