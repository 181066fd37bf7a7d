//! Structured JSON logging for AWS Lambda, as a `tracing` layer.
//!
//! Log with the ordinary `tracing` macros; every event becomes one JSON line on stdout with the
//! keys Powertools for Python and TypeScript write, so Logs Insights queries such as
//! `filter cold_start = 1` or `stats count(*) by service` work unchanged:
//!
//! ```json
//! {"level":"INFO","location":"orders::handler:42","message":"order accepted","timestamp":"2026-11-21T13:42:27.123Z",
//!  "service":"orders","cold_start":true,"function_name":"orders-api","function_memory_size":512,
//!  "function_arn":"arn:aws:lambda:eu-west-1:123456789012:function:orders-api",
//!  "function_request_id":"c6af9ac6-7b61-11e6-9a41-93e812345678","xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793",
//!  "correlation_id":"7f8e3c1a","order_id":"o-1001"}
//! ```
//!
//! # Getting started
//!
//! ```no_run
//! use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
//! use lambda_runtime::{Error, LambdaEvent, service_fn};
//! use powertools_logger::{CorrelationPath, Json, Logger};
//! use tower::ServiceBuilder;
//!
//! async fn handler(event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
//!     tracing::info!(order_id = "o-1001", quantity = 2, "order accepted");
//!     powertools_logger::append_invocation_key("customer_id", "c-42".into()); // this invocation only
//!     tracing::debug!(request = ?Json(&event.payload.body), "DEBUG: off unless sampled or buffered");
//!     Ok(ApiGatewayProxyResponse::default())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let logger = Logger::builder()
//!         .correlation_id_path(CorrelationPath::ApiGatewayRest)
//!         .redact_key("authorization")
//!         .build()?;
//!     logger.try_init()?; // or add logger.tracing_layer() to your own tracing_subscriber::registry()
//!     let service = ServiceBuilder::new()
//!         .layer(logger.layer()) // opens the invocation scope, correlation id, buffer
//!         .service(service_fn(handler));
//!     lambda_runtime::run(service).await
//! }
//! ```
//!
//! - **Fields**: event fields, then fields of the enclosing spans (innermost first; only spans
//!   at a level the logger could write, as for events: at `WARN` an `info_span!`'s fields are
//!   not kept, unless sampling or buffering may write `INFO` lines), then
//!   per-invocation keys ([`Logger::append_keys`] inside a handler, or
//!   [`append_invocation_key`]), then process-wide keys ([`Logger::append_persistent_keys`],
//!   [`LoggerBuilder::append_key`], or [`Logger::append_keys`] at INIT) become top-level keys;
//!   the most specific wins on a clash. A field named `annotation.<key>` (the tracer's
//!   annotations, e.g. `info_span!("## save", annotation.customer = "c-42")`) is written as
//!   `<key>` (`"customer": "c-42"`), so it reads the same in logs with and without the tracer.
//!   Keys appended inside a handler belong to that
//!   invocation: they are gone when it ends and never appear in a concurrent invocation's
//!   lines. `append_persistent_keys` is for what is true of the whole process: called inside
//!   a handler, it changes every invocation's lines, concurrent ones included. After INIT,
//!   `append_keys` outside an invocation scope (in a task or thread the handler spawned
//!   without [`powertools_core::spawn`]) adds nothing and warns once on stderr, rather than
//!   leak the keys into other invocations.
//! - **Powertools keys cannot be spoofed**: a field or appended key named like any standard key
//!   (`level`, `location`, `message`, `timestamp`, `service`, `cold_start`, `function_name`,
//!   `function_memory_size`, `function_arn`, `function_request_id`, `tenant_id`,
//!   `xray_trace_id`, `correlation_id`, `sampling_rate`, or the name a key was renamed to) is
//!   kept, but written as `extra_<name>`; the standard key always has the real value, so a
//!   query on `function_request_id` or `cold_start` never matches a value from an event.
//! - **Structured values**: wrap any `Serialize` value in [`Json`]; `message = ?Json(&v)` makes
//!   the whole message a JSON object.
//! - **Errors**: `error = &err as &dyn std::error::Error` becomes
//!   `{"name": .., "message": .., "chain": [..sources]}`.
//! - **Lambda context**: `cold_start`, `function_request_id`, `function_arn`, `tenant_id` (only
//!   for a function with tenant isolation, right after `function_request_id`, as Powertools for
//!   TypeScript writes it), `xray_trace_id` come from the invocation scope of
//!   `powertools-core`, so they are right even when invocations run concurrently in one
//!   process. Lines written during INIT have none of them.
//!
//! # Environment variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POWERTOOLS_SERVICE_NAME` | `service` key | `service_undefined` |
//! | `AWS_LAMBDA_LOG_LEVEL` | Lambda's advanced logging controls: wins over everything (`FATAL` = `ERROR`) | unset |
//! | `POWERTOOLS_LOG_LEVEL`, then `LOG_LEVEL` | the level, below the builder's | `INFO` |
//! | `POWERTOOLS_LOGGER_SAMPLE_RATE` | share of invocations logged at DEBUG (0.0 to 1.0), decided per invocation | `0` |
//! | `POWERTOOLS_LOGGER_LOG_EVENT` | log each incoming event at INFO | `false` |
//! | `POWERTOOLS_DEV` | indented output (off when `AWS_LAMBDA_LOG_FORMAT=JSON`) | `false` |
//! | `AWS_LAMBDA_LOG_FORMAT` | `JSON`: Lambda expects one JSON object per line and filters lines by their `level` (see below) | set by Lambda |
//! | `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` | `function_name`, `function_memory_size` | set by Lambda |
//!
//! Level precedence, first found wins: `AWS_LAMBDA_LOG_LEVEL`, the builder's
//! [`LoggerBuilder::level`], `POWERTOOLS_LOG_LEVEL`, `LOG_LEVEL`, INFO. Asking in code for a level
//! below the one Lambda enforces is said once on stderr. Malformed values are reported once on
//! stderr and ignored; explicit builder values are validated by [`LoggerBuilder::build`].
//!
//! # Lambda's advanced logging controls
//!
//! With `AWS_LAMBDA_LOG_FORMAT=JSON`, Lambda filters every JSON line by its `level` against the
//! application log level (`AWS_LAMBDA_LOG_LEVEL`) and treats a line without `level` as INFO.
//! This logger's lines always carry `level`, and the level Lambda enforces wins over the
//! builder's. EMF blobs have no level of their own, so at WARN and above Lambda would drop them:
//! the metrics client (`powertools-metrics`) therefore adds `"level"` (the application level)
//! to every blob in that situation, see its `MetricsBuilder::log_level_key`.
//!
//! # Debug sampling and log buffering
//!
//! With a sample rate, each invocation is drawn once: a sampled one logs at DEBUG, and every
//! line carries `sampling_rate`. With [`BufferConfig`], lines at or below its level are held per
//! invocation (bounded bytes, oldest evicted first, with a warning on flush; a line larger than
//! the whole buffer is written at once, after a warning; both warnings are written whatever
//! the logger's level) and written, with
//! their original timestamps and in order, only if the invocation logs an ERROR or fails;
//! otherwise they are dropped. Nothing is buffered during INIT.
//!
//! # Layer order
//!
//! The logger's `tracing` layer is installed once, at INIT. Around the handler, outermost
//! first: [`Logger::layer`] (it opens the invocation scope, so it can stand in for
//! `powertools_core::InvocationLayer`), then metrics, tracer, idempotency, the handler. The
//! logger's layer must be outside anything whose failure should flush the buffer.
//!
//! The logger's level (and its sampling and buffering decisions) filter the logger's own
//! output only: [`Logger::tracing_layer`] is a per-layer filtered layer, so at
//! `AWS_LAMBDA_LOG_LEVEL=WARN` the `## ` spans of the X-Ray span layer, OpenTelemetry and your
//! own layers are still created (the logger itself keeps no fields of a span below what it
//! could write, so the SDK's TRACE and DEBUG spans cost it nothing). With the logger alone in
//! the subscriber, a line or span below the level still costs one comparison (callsite
//! interest `never`).
//!
//! # HTTP functions (lambda_http, axum)
//!
//! With the feature `http`, the same [`Logger::layer`] wraps a service run by
//! `lambda_http::run`: an axum `Router` or a tower `service_fn` taking an `http::Request`. Its
//! lines carry the same keys (cold start, request id, trace id) and its buffer and panic line
//! work the same. The correlation id comes from the request, not by JMESPath (`lambda_http`
//! does not keep the raw event): the request context's request id for REST and HTTP APIs and
//! function URLs, the `x-amzn-trace-id` header behind an ALB; or a header of your own with
//! [`LoggerBuilder::correlation_id_header`]. With [`LoggerBuilder::log_event`] (or
//! `POWERTOOLS_LOGGER_LOG_EVENT`) the first line is the request: method, path (never the query
//! string), headers (`authorization`, `proxy-authorization`, `cookie`, `x-api-key` and
//! `x-amz-security-token` always as `*****`, and any header named by a redacted key), and the
//! body only with [`LoggerBuilder::log_http_body`].
//!
//! ```no_run
//! # #[cfg(feature = "http")]
//! # mod example {
//! use axum::{Router, routing::get};
//! use powertools_logger::Logger;
//! use tower::ServiceBuilder;
//!
//! pub async fn main() -> Result<(), lambda_http::Error> {
//!     let logger = Logger::builder()
//!         .correlation_id_header("x-correlation-id")
//!         .build()?;
//!     logger.try_init()?;
//!     let router = Router::new().route("/health", get(|| async { "ok" }));
//!     let service = ServiceBuilder::new().layer(logger.layer()).service(router);
//!     lambda_http::run(service).await
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! # Redaction and secrets
//!
//! [`LoggerBuilder::redact_key`] replaces the value of matching keys (any case, at any depth of
//! structured values, in fields, keys and the logged event) with `*****`. It holds for values
//! the logger cannot write as JSON too: one nested deeper than 64 levels is written as a note
//! without any of its content (and is never serialized further than that, so no value can
//! overflow the stack), and one larger than 128 KiB is redacted before it is cut to a string.
//! The library itself never logs configuration values, secrets or environment variables.
//!
//! # Testing your code
//!
//! Give the builder a writer (and a clock, if timestamps matter), then assert lines as parsed
//! JSON. `powertools_testing::CapturedOutput` gives such a writer, and
//! `powertools_testing::ManualClock` such a clock:
//!
//! ```
//! use powertools_logger::Logger;
//! use powertools_testing::{CapturedOutput, ManualClock, lambda_env};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let captured = CapturedOutput::new();
//! let logger = Logger::builder()
//!     .env(lambda_env([("POWERTOOLS_SERVICE_NAME", "orders")]))
//!     .writer(captured.line_writer())
//!     .clock(ManualClock::at_epoch_millis(1_795_268_547_123).clock())
//!     .build()
//!     .unwrap();
//! let subscriber = tracing_subscriber::registry().with(logger.tracing_layer());
//! tracing::subscriber::with_default(subscriber, || tracing::info!(order_id = "o-1", "accepted"));
//!
//! let line = &captured.json_lines().unwrap()[0];
//! assert_eq!(line["message"], "accepted");
//! assert_eq!(line["service"], "orders");
//! assert_eq!(line["order_id"], "o-1");
//! assert_eq!(line["timestamp"], "2026-11-21T13:42:27.123Z");
//! ```
//!
//! To see the lines a deployed binary writes, run it under `powertools_testing::LocalFunction`
//! and read its captured stdout.

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
