//! A Lambda function that reports what the invocation scope says, for the end-to-end tests.
//!
//! Event fields steer it: `{"sleep_ms": 20}` waits before answering (to overlap concurrent
//! invocations), `{"fail": "message"}` returns an error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use powertools_core::{Invocation, InvocationLayer};
use serde_json::{Value, json};
use tower::ServiceBuilder;

#[derive(Debug)]
struct ProbeError(String);

impl From<ProbeError> for Diagnostic {
    fn from(error: ProbeError) -> Self {
        Diagnostic {
            error_type: "ProbeError".to_owned(),
            error_message: error.0,
        }
    }
}

/// Invocations running right now in this process, and the most ever seen at once.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

async fn handler(event: LambdaEvent<Value>) -> Result<Value, ProbeError> {
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
    let result = describe(event).await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    result
}

async fn describe(event: LambdaEvent<Value>) -> Result<Value, ProbeError> {
    let at_start = Invocation::current().ok_or_else(|| ProbeError("no invocation scope".into()))?;
    if let Some(ms) = event.payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(message) = event.payload.get("fail").and_then(Value::as_str) {
        return Err(ProbeError(message.to_owned()));
    }
    // Read the scope again after the await, and from a spawned task, to show it followed the
    // invocation rather than the thread.
    let after_await = Invocation::current().map(|i| i.request_id().to_owned());
    let in_task =
        powertools_core::spawn(async { Invocation::current().map(|i| i.request_id().to_owned()) })
            .await
            .ok()
            .flatten();
    Ok(json!({
        "context_request_id": event.context.request_id,
        "scope_request_id": at_start.request_id(),
        "scope_request_id_after_await": after_await,
        "scope_request_id_in_task": in_task,
        "function_arn": at_start.function_arn(),
        "deadline_ms": at_start.deadline_ms(),
        "xray_trace_id": at_start.xray_trace_id(),
        "trace_parent": at_start.trace_header().and_then(|h| h.parent()),
        "trace_sampled": at_start.trace_header().map(|h| h.is_sampled()),
        "cold_start": at_start.is_cold_start(),
        "tenant_id": at_start.tenant_id(),
        "service": at_start.config().service_name(),
        // Re-read the environment on every invocation: malformed values must still be
        // reported only once per process.
        "dev_mode_fresh": powertools_core::FunctionConfig::from_env().dev_mode(),
        "function_name": at_start.config().function_name(),
        "memory_size_mb": at_start.config().memory_size_mb(),
        "process_trace_env": std::env::var("_X_AMZN_TRACE_ID").ok(),
        "peak_in_flight": PEAK_IN_FLIGHT.load(Ordering::SeqCst),
        "payload": event.payload,
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let service = ServiceBuilder::new()
        .layer(InvocationLayer::from_env())
        .service(service_fn(handler));
    lambda_runtime::run_concurrent(service).await
}
