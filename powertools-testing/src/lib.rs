#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "appconfig")]
pub mod appconfig;
#[cfg(feature = "aws")]
pub mod aws;
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
#[cfg(feature = "otlp")]
pub mod otlp;
mod runtime_api;
#[cfg(feature = "schemas")]
mod schema;
#[cfg(feature = "secrets")]
pub mod secrets;
mod serve;
#[cfg(feature = "ssm")]
pub mod ssm;
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
