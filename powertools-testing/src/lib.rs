//! Test Lambda handlers locally, exactly as Lambda runs them.
//!
//! - [`RuntimeApi`]: a local Lambda Runtime API on 127.0.0.1 that feeds events to the **real**
//!   `lambda_runtime` loop, sends the real headers (`Lambda-Runtime-Aws-Request-Id`,
//!   `-Deadline-Ms`, `-Invoked-Function-Arn`, `-Trace-Id`) and collects responses and errors.
//! - [`LocalFunction`]: starts a function binary as a child process given
//!   `AWS_LAMBDA_RUNTIME_API` and the usual `AWS_LAMBDA_*` variables (`lambda_runtime` refuses
//!   to start without them, and a child process keeps them out of the test's own environment),
//!   captures its stdout (the log and EMF lines) and stderr, and invokes it.
//! - [`events`]: the events Lambda sends for SQS, Kinesis, DynamoDB Streams, API Gateway REST
//!   and HTTP APIs, ALB, function URLs, SNS, EventBridge, scheduled events and S3, with builders
//!   for what a test is about; each deserializes into its `aws_lambda_events` type.
//!
//! # Testing your own handler
//!
//! Give your function crate a binary that calls `lambda_runtime::run` (as you deploy it), then
//! in `tests/`:
//!
//! ```no_run
//! use powertools_testing::{InvocationRequest, LocalFunction};
//! use serde_json::json;
//!
//! // #[tokio::test]
//! async fn creates_an_order() -> Result<(), Box<dyn std::error::Error>> {
//!     # let binary = "target/debug/orders";
//!     // In your crate's tests/: let binary = env!("CARGO_BIN_EXE_orders");
//!     let function = LocalFunction::builder(binary)
//!         .function_name("orders")
//!         .start()
//!         .await?;
//!     let outcome = function
//!         .invoke(InvocationRequest::json(&json!({"body": "{\"sku\":\"A-1\"}"}))?.sampled_trace())
//!         .await?;
//!     assert_eq!(outcome.json()?["statusCode"], 201);
//!     Ok(())
//! }
//! ```
//!
//! [`UdpCollector`] receives X-Ray datagrams on a real UDP socket. With the `schemas` feature,
//! `xray` checks them against a JSON Schema of the X-Ray subsegment document, and `emf` checks CloudWatch Embedded Metric Format blobs against a
//! JSON Schema of the EMF specification and its cross-field rules.
//!
//! [`test_event`] and [`test_context`] build what the runtime would pass, to call a handler or
//! a tower stack directly. [`CapturedOutput`] collects the lines that code under test writes in-process (pass it as
//! the writer of a logger or metrics client).
//!
//! [`ManualClock`] is a clock a test moves by hand (for any builder's `clock(..)`);
//! [`lambda_env`] is the environment Lambda sets, as an `Env`; [`unique_name`] names tables,
//! parameters and secrets so that test runs never collide.
//!
//! Invocations may be queued with [`LocalFunction::enqueue`] to have several in flight at once
//! (with `max_concurrency` and `lambda_runtime::run_concurrent`, as on Lambda Managed
//! Instances).

mod captured;
mod clock;
mod collector;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "schemas")]
pub mod emf;
mod event;
pub mod events;
mod function;
mod ids;
mod runtime_api;
#[cfg(feature = "schemas")]
mod schema;
#[cfg(feature = "schemas")]
pub mod xray;

pub use captured::CapturedOutput;
pub use clock::{ManualClock, lambda_env, unique_name};
pub use collector::UdpCollector;
pub use event::{TEST_FUNCTION_ARN, test_context, test_event};
pub use function::{LocalFunction, LocalFunctionBuilder, Output, Stopped};
pub use runtime_api::{
    FunctionError, InvocationRequest, Outcome, Pending, RuntimeApi, StreamedResponse,
};

/// What can go wrong while driving a function locally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Binding or serving the local Runtime API failed.
    #[error("local Runtime API I/O failed: {0}")]
    Io(#[source] std::io::Error),
    /// The function binary could not be started.
    #[error(
        "could not start function binary {program:?}: {source}; build it first (cargo build) and check the path"
    )]
    Spawn {
        /// The program that was run.
        program: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The function did not answer before its deadline (plus a grace period).
    #[error(
        "invocation {request_id} got no answer within {waited:?}: the handler hung or the function never polled /next"
    )]
    Timeout {
        /// The invocation's request id.
        request_id: String,
        /// How long the harness waited.
        waited: std::time::Duration,
    },
    /// The function process exited before answering.
    #[error(
        "function process exited ({status}) before answering; last stderr lines: {stderr_tail:?}"
    )]
    FunctionExited {
        /// The exit status.
        status: String,
        /// The last lines it wrote to stderr (when captured).
        stderr_tail: Vec<String>,
    },
    /// The Runtime API was stopped while an invocation was pending.
    #[error("the local Runtime API stopped while an invocation was pending")]
    ServerStopped,
    /// An event or a response was not the JSON expected.
    #[error("JSON (de)serialization failed: {0}")]
    Serialize(#[source] serde_json::Error),
    /// A document the code under test wrote breaks its format's rules.
    #[error("invalid document: {0}")]
    InvalidDocument(String),
    /// The function answered with an error where a response was expected.
    #[error("the function reported {}: {}", .0.error_type, .0.error_message)]
    FunctionFailed(FunctionError),
}
