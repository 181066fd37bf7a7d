//! What the test binaries share: the tracer's Lambda environment and a sampled invocation.

#![allow(dead_code, reason = "each test binary uses a part")]

use lambda_runtime::LambdaEvent;
use powertools_core::Env;
use powertools_testing::{lambda_env, test_event};
use powertools_tracer::{Tracer, TracerBuilder};
use serde_json::Value;

/// The trace every test invocation belongs to.
pub(crate) const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
/// The Lambda function segment's id in the trace header.
pub(crate) const PARENT: &str = "557abcec3ee5a047";

/// The trace header for [`ROOT`] under [`PARENT`], with `Sampled=<sampled>`.
pub(crate) fn header(sampled: &str) -> String {
    format!("Root={ROOT};Parent={PARENT};Sampled={sampled}")
}

/// A Lambda environment for the `orders` service with the handler `bootstrap`, `extra` on top.
pub(crate) fn env(extra: &[(&str, &str)]) -> Env {
    let vars = [
        ("POWERTOOLS_SERVICE_NAME", "orders"),
        ("_HANDLER", "bootstrap"),
    ];
    lambda_env(vars.iter().chain(extra).copied()).with_reporter(|_| {})
}

/// A tracer builder reading [`env`].
pub(crate) fn builder(extra: &[(&str, &str)]) -> TracerBuilder {
    Tracer::builder().env(env(extra))
}

/// An event of the invocation `request_id` in the sampled trace [`ROOT`].
pub(crate) fn sampled_event(request_id: &str, payload: Value) -> LambdaEvent<Value> {
    let mut event = test_event(request_id, payload);
    event.context.xray_trace_id = Some(header("1"));
    event
}
