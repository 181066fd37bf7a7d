//! The ground every Powertools for AWS Lambda in Rust utility stands on.
//!
//! - [`FunctionConfig`]: "this function", read once from the Lambda environment
//!   ([`FunctionConfig::from_env`], or [`FunctionConfig::from_lookup`] in tests). Reading the
//!   environment never panics; malformed values are reported once on stderr.
//! - Cold start: one process-wide flag ([`take_cold_start`]), taken by the first invocation;
//!   never cold under provisioned concurrency, SnapStart or Lambda Managed Instances.
//! - [`Invocation`]: "this invocation" (request id, ARN, deadline, parsed [`TraceHeader`],
//!   cold-start flag, and the utilities' per-invocation state), available through
//!   [`Invocation::current`] to any code running inside it, correct when invocations run
//!   concurrently in one process.
//! - [`InvocationLayer`]: the tower layer that opens that scope around a handler, and runs an
//!   [`InvocationHook`] before and after it on success, error and panic alike. Every utility's
//!   tower layer is this layer with the utility's hook (`LoggerLayer` is
//!   `InvocationLayer<LoggerHook>`, and so on), so they open the scope, take the cold-start flag
//!   and handle panics in one way. Requests other than [`lambda_runtime::LambdaEvent`] take part
//!   through [`LambdaRequest`].
//! - [`with_correlation_id`]: a correlation id for one piece of work inside an invocation (a
//!   batch record), written by the logger and set by the batch processor.
//! - The pieces every utility's builder shares: [`CommonConfig`] (environment, function
//!   configuration, service name resolved one way, clock), [`Clock`], and [`LineWriter`] (where
//!   log lines and EMF blobs go).
//!
//! This crate depends on no AWS SDK.
//!
//! # Getting started
//!
//! ```no_run
//! use lambda_runtime::{Error, LambdaEvent, service_fn};
//! use powertools_core::{Invocation, InvocationLayer};
//! use serde_json::{Value, json};
//! use tower::ServiceBuilder;
//!
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     let invocation = Invocation::current().expect("inside InvocationLayer");
//!     Ok(json!({
//!         "request_id": invocation.request_id(),
//!         "cold_start": invocation.is_cold_start(),
//!         "remaining_ms": invocation.remaining_time().as_millis() as u64,
//!     }))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let service = ServiceBuilder::new()
//!         .layer(InvocationLayer::from_env())
//!         .service(service_fn(handler));
//!     lambda_runtime::run(service).await
//! }
//! ```
//!
//! # Environment variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POWERTOOLS_SERVICE_NAME` | the service name | `service_undefined` |
//! | `AWS_LAMBDA_FUNCTION_NAME` | function name; unset means "not in Lambda" | set by Lambda |
//! | `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` | memory in MB | set by Lambda |
//! | `AWS_LAMBDA_FUNCTION_VERSION` | function version | set by Lambda |
//! | `AWS_REGION` (`AWS_DEFAULT_REGION`) | region | set by Lambda |
//! | `AWS_LAMBDA_INITIALIZATION_TYPE` | only `on-demand` has cold starts; `provisioned-concurrency`, `snap-start`, `lambda-managed-instances` (and any other type) never do | `on-demand` |
//! | `AWS_LAMBDA_MAX_CONCURRENCY` | invocations run concurrently in one process (Lambda Managed Instances) | unset |
//! | `POWERTOOLS_DEV` | human-friendly local output | `false` |
//!
//! # Carrying the scope into spawned tasks
//!
//! The scope is task-local. A task started with [`tokio::spawn`] does not see it; start it with
//! [`spawn`] (or wrap the future with [`Invocation::scope`]) instead.

mod clock;
mod cold_start;
mod common;
mod config;
mod correlation;
mod env;
mod hash;
mod invocation;
mod layer;
mod panic;
mod random;
mod report;
mod streaming;
mod trace_header;
mod writer;

pub use clock::{BoxFuture, Clock, duration_millis, epoch_millis};
pub use cold_start::{ColdStart, is_initialized, take_cold_start};
pub use common::{Common, CommonConfig};
pub use config::{
    ConfigError, DEFAULT_SERVICE_NAME, FunctionConfig, FunctionConfigBuilder, InitializationType,
};
pub use correlation::{scoped_correlation_id, sync_with_correlation_id, with_correlation_id};
pub use env::{Env, Malformed};
pub use hash::Fnv1a;
pub use invocation::{Extensions, Invocation, InvocationBuilder, TraceContext, spawn};
pub use layer::{
    InvocationFuture, InvocationHook, InvocationLayer, InvocationService, LambdaRequest,
};
pub use panic::{
    CatchPanic, Panicked, catch_panic, catch_panic_sync, panic_in_progress, unwinding_from,
};
pub use random::{random_u64, random_unit};
pub use report::{WARNING_TARGET, warn};
pub use streaming::{
    Head, Streamed, StreamingBody, StreamingFuture, StreamingLayer, StreamingService,
};
pub use trace_header::{Sampling, TraceHeader, TraceHeaderError};
pub use writer::LineWriter;
