//! CloudWatch Embedded Metric Format (EMF) for AWS Lambda: custom metrics written to stdout as
//! JSON, extracted by CloudWatch asynchronously, with no API call from the handler.
//!
//! CloudWatch **silently drops** a blob that breaks any EMF rule. This client enforces every
//! rule before anything is written: what cannot be fixed is refused with an error that says
//! what to do; what only exceeds a count limit is split into several blobs, never dropped.
//!
//! # Getting started
//!
//! ```no_run
//! use lambda_runtime::{Error, LambdaEvent, service_fn};
//! use powertools_metrics::{Metrics, Resolution, Unit};
//! use serde_json::{Value, json};
//! use tower::ServiceBuilder;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME, or the builder.
//!     let metrics = Metrics::builder().namespace("Orders").default_dimension("environment", "prod").build()?;
//!     let handler_metrics = metrics.clone();
//!     let service = ServiceBuilder::new()
//!         .layer(metrics.layer()) // ColdStart metric; flush after every invocation, failed ones too
//!         .service(service_fn(move |event: LambdaEvent<Value>| {
//!             let metrics = handler_metrics.clone();
//!             async move {
//!                 metrics.add_metric("OrderAccepted", Unit::Count, 1.0)?;
//!                 metrics.add_metric_with_resolution("Latency", Unit::Milliseconds, Resolution::High, 12.5)?;
//!                 metrics.add_metadata("order_id", json!("o-1001"))?;
//!                 Ok::<_, Error>(event.payload)
//!             }
//!         }));
//!     lambda_runtime::run(service).await
//! }
//! ```
//!
//! One line per blob on stdout:
//!
//! ```json
//! {"_aws":{"Timestamp":1763732547123,"CloudWatchMetrics":[{"Namespace":"Orders","Dimensions":[["service","environment"]],
//!  "Metrics":[{"Name":"OrderAccepted","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1}]}]},
//!  "service":"orders","environment":"prod","OrderAccepted":[1.0],"Latency":[12.5],"order_id":"o-1001"}
//! ```
//!
//! The `metrics` crate's macros feed the same output through [`MetricsRecorder`].
//!
//! # The `metrics` facade
//!
//! [`MetricsRecorder`] maps the facade to EMF at every flush (the end of every invocation):
//! a **counter** writes one value, the sum of its increments since the last flush
//! (`absolute(total)` adds the increase over the highest total seen); a **gauge** writes one
//! value, its last, with `increment`/`decrement` applied to its current value (kept across
//! invocations); a **histogram** writes every value recorded. Labels become dimensions, one
//! blob per label set. Handles are kept per name and labels, so repeated macro calls reach the
//! same counter and gauge. A label set EMF cannot hold (more than 29 labels, a key twice with
//! two values, `service` or a default dimension with another value, `_aws`, an invalid name or
//! value) is never written: its values are left out and reported once on stderr, as the facade
//! has no error path.
//!
//! # Environment variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POWERTOOLS_METRICS_NAMESPACE` | the namespace (required: missing is a build error, so [`Metrics::try_from_env`] can fail) | none |
//! | `POWERTOOLS_SERVICE_NAME` | the `service` dimension | `service_undefined` |
//! | `POWERTOOLS_METRICS_FUNCTION_NAME` | `function_name` of the `ColdStart` metric | the function name |
//! | `POWERTOOLS_METRICS_DISABLED` | write nothing | `false` |
//! | `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` | set by Lambda's advanced logging controls: `JSON` above `INFO` adds `"level"` to every blob (see below) | unset |
//!
//! Builder values beat the environment. The service name is resolved as for every utility
//! (`powertools_core::CommonConfig`): the `service` dimension and the invocation scope the
//! layer opens name the same service. A malformed variable is reported once on stderr and
//! replaced by its default; only a missing or invalid namespace fails the build, as nothing
//! could be written without one.
//!
//! # Limits enforced
//!
//! | rule (CloudWatch drops the blob otherwise) | here |
//! |---|---|
//! | at most 100 metrics per blob | split into several blobs |
//! | at most 100 values per metric | split into several blobs |
//! | at most 30 dimensions per dimension set | `service` + 29: more is [`MetricsError::TooManyDimensions`] |
//! | metric names 1 to 255 characters | [`MetricsError::InvalidMetricName`] |
//! | dimension names 1 to 250 ASCII characters, not starting with `:` | [`MetricsError::InvalidDimensionName`] |
//! | dimension values 1 to 1024 ASCII characters, not blank | [`MetricsError::InvalidDimensionValue`] |
//! | values finite, within ±2^360 and not closer to 0 than 2^-360 | [`MetricsError::InvalidValue`] |
//! | timestamp within 14 days past and 2 hours future | [`MetricsError::InvalidTimestamp`] |
//! | every dimension and metric is a distinct root member, none named `_aws` | [`MetricsError::NameClash`], [`MetricsError::ConflictingDimension`] |
//! | each key once per dimension set | a repeated key (or `service`, a default dimension) with the same value is written once; with another value, [`MetricsError::ConflictingDimension`] |
//! | the same dimension set once per directive | repeated sets are written once (a value would count twice) |
//! | dimension sets and values leave room for metrics in 256 KB | [`MetricsError::DimensionsTooLarge`] |
//! | one unit and resolution per metric | [`MetricsError::ConflictingMetric`] |
//! | a log event is at most 256 KB | blobs split further (metadata left out, with a warning, only if it alone is too large) |
//! | the namespace: 1 to 255 characters among `0-9A-Za-z.-_/#:` and space, not `AWS/...` | [`MetricsError::InvalidNamespace`] |
//!
//! `StorageResolution` is written only for high resolution (`1`); values are always arrays.
//!
//! # Lambda's advanced logging controls (JSON log format)
//!
//! With `AWS_LAMBDA_LOG_FORMAT=JSON`, Lambda filters every JSON line on stdout by its `level`
//! against the application log level (`AWS_LAMBDA_LOG_LEVEL`), and a line without `level`
//! counts as `INFO`. At `WARN`, `ERROR` or `FATAL`, Lambda would therefore drop **every** EMF
//! blob before CloudWatch sees it. In that situation each blob carries a root member `"level"`
//! set to the application level (`{"_aws":{...},"level":"WARN",...}`), which keeps it; an extra
//! root member is valid EMF. `level` is then refused as a metric, dimension, label or metadata
//! name ([`MetricsError::NameClash`]). [`MetricsBuilder::log_level_key`] turns the member on or
//! off explicitly; turned off in that situation, `build` writes a warning naming the fix on
//! stderr (as a JSON line at the application level, so that Lambda keeps it).
//!
//! # Cold start
//!
//! On the cold start invocation the layer writes a separate blob: `ColdStart` (Count, 1) with
//! dimensions `function_name` and `service` plus the default dimensions. Never on a warm
//! invocation, never under provisioned concurrency or SnapStart, never with value 0.
//!
//! # Empty invocations
//!
//! An invocation that added no metric writes nothing and warns once; with
//! [`MetricsBuilder::raise_on_empty_metrics`] the invocation fails instead, with Lambda
//! `errorType` `SchemaValidationError`. An invocation in which `powertools-idempotency`
//! replayed a stored response is not empty (the handler, which adds the metrics, did not run):
//! with [`MetricsBuilder::idempotent_replay_metric`] it gets the metric [`REPLAY_METRIC`]
//! (`IdempotentReplay`, `Count`), otherwise it writes nothing and is not an error.
//!
//! # Layer order
//!
//! Outermost first: the logger's layer (or `powertools_core::InvocationLayer`), then
//! [`Metrics::layer`], then the tracer, idempotency, the handler. The metrics layer opens the
//! invocation scope itself when it is outermost. Its error type wraps the handler's
//! ([`MetricsLayerError`]); the handler's `errorType` reaches Lambda unchanged.
//!
//! # HTTP functions and streamed responses
//!
//! The same [`Metrics::layer`] wraps a `lambda_http` service or an axum `Router` (no feature
//! needed): one blob per request, the `ColdStart` blob once. For a streamed response
//! (`lambda_http::run_with_streaming_response`) use `metrics.layer().streaming()`: what the
//! body adds while it is sent goes into the invocation's blob, written after the last chunk.
//! (`raise_on_empty_metrics` cannot fail a streamed invocation: its response is sent already.)
//!
//! # Concurrency
//!
//! Each invocation has its own metric set (in its invocation scope), so concurrent invocations
//! in one process (Lambda Managed Instances) never mix metrics. Outside an invocation, metrics
//! go to a process-wide set written by [`Metrics::flush`].
//!
//! # Testing your code
//!
//! ```
//! use powertools_metrics::{Metrics, Unit};
//! use powertools_testing::CapturedOutput;
//!
//! let captured = CapturedOutput::new();
//! let metrics = Metrics::builder()
//!     .namespace("Orders")
//!     .service_name("orders")
//!     .writer(captured.line_writer())
//!     .build()
//!     .unwrap();
//! metrics.add_metric("OrderAccepted", Unit::Count, 1.0).unwrap();
//! metrics.flush().unwrap();
//!
//! let blob = &captured.json_lines().unwrap()[0];
//! assert_eq!(blob["OrderAccepted"], serde_json::json!([1.0]));
//! assert_eq!(blob["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Orders");
//! ```

mod builder;
mod emf;
mod error;
mod layer;
mod metrics;
mod output;
mod recorder;
mod state;
mod unit;
mod validate;

pub use builder::MetricsBuilder;
pub use error::MetricsError;
pub use layer::{MetricsHook, MetricsLayer, MetricsLayerError, MetricsService};
pub use metrics::{Metrics, REPLAY_METRIC};
pub use recorder::{MAX_CACHED_HANDLES, MetricsRecorder};
pub use unit::{Resolution, Unit};
