//! The probe function under the real `lambda_runtime` loop, driven through the local Runtime API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powertools_testing::{HarnessError, InvocationRequest, LocalFunction, Outcome};
use serde_json::{Value, json};

const PROBE: &str = env!("CARGO_BIN_EXE_probe-function");

async fn probe() -> Result<LocalFunction, HarnessError> {
    LocalFunction::builder(PROBE)
        .function_name("probe")
        .memory_size_mb(512)
        .env("POWERTOOLS_SERVICE_NAME", "probe-service")
        .start()
        .await
}

#[tokio::test]
async fn harness_delivers_events_with_real_headers() -> Result<(), HarnessError> {
    let function = probe().await?;
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
        + 60_000;
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1";
    let request = InvocationRequest::json(&json!({"order": "o-1"}))?
        .request_id("c6af9ac6-7b61-11e6-9a41-93e812345678")
        .function_arn("arn:aws:lambda:eu-west-1:123456789012:function:probe:live")
        .deadline_ms(deadline)
        .trace_header(header);
    let out = function.invoke(request).await?.json()?;
    assert_eq!(
        out["context_request_id"],
        "c6af9ac6-7b61-11e6-9a41-93e812345678"
    );
    assert_eq!(
        out["scope_request_id"],
        "c6af9ac6-7b61-11e6-9a41-93e812345678"
    );
    assert_eq!(
        out["function_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:probe:live"
    );
    assert_eq!(out["deadline_ms"], deadline);
    assert_eq!(out["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(out["trace_parent"], "557abcec3ee5a047");
    assert_eq!(out["trace_sampled"], true);
    assert_eq!(out["service"], "probe-service");
    assert_eq!(out["function_name"], "probe");
    assert_eq!(out["memory_size_mb"], 512);
    assert_eq!(out["payload"], json!({"order": "o-1"}));
    Ok(())
}

#[tokio::test]
async fn the_tenant_header_reaches_the_invocation_scope() -> Result<(), HarnessError> {
    let function = probe().await?;
    let with = function
        .invoke(InvocationRequest::json(&json!({}))?.tenant_id("tenant-42"))
        .await?
        .json()?;
    let without = function
        .invoke(InvocationRequest::json(&json!({}))?)
        .await?
        .json()?;
    assert_eq!(with["tenant_id"], "tenant-42");
    assert_eq!(without["tenant_id"], Value::Null);
    Ok(())
}

#[tokio::test]
async fn first_invocation_is_cold_then_warm() -> Result<(), HarnessError> {
    let function = probe().await?;
    let first = function
        .invoke(InvocationRequest::json(&json!({}))?)
        .await?
        .json()?;
    let second = function
        .invoke(InvocationRequest::json(&json!({}))?)
        .await?
        .json()?;
    let third = function
        .invoke(InvocationRequest::json(&json!({}))?)
        .await?
        .json()?;
    assert_eq!(
        [
            &first["cold_start"],
            &second["cold_start"],
            &third["cold_start"]
        ],
        [&json!(true), &json!(false), &json!(false)]
    );
    Ok(())
}

#[tokio::test]
async fn only_on_demand_environments_have_a_cold_start() -> Result<(), HarnessError> {
    for kind in [
        "provisioned-concurrency",
        "snap-start",
        "lambda-managed-instances",
    ] {
        let function = LocalFunction::builder(PROBE)
            .initialization_type(kind)
            .start()
            .await?;
        for _ in 0..2 {
            let out = function
                .invoke(InvocationRequest::json(&json!({}))?)
                .await?
                .json()?;
            assert_eq!(out["cold_start"], false, "{kind}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn malformed_environment_is_reported_once_and_never_fatal() -> Result<(), HarnessError> {
    let function = LocalFunction::builder(PROBE)
        .env("POWERTOOLS_DEV", "sometimes")
        .env("POWERTOOLS_SERVICE_NAME", "   ")
        .start()
        .await?;
    for _ in 0..3 {
        let out = function
            .invoke(InvocationRequest::json(&json!({}))?)
            .await?
            .json()?;
        assert_eq!(out["dev_mode_fresh"], false);
        assert_eq!(out["service"], "service_undefined");
    }
    let stopped = function.stop().await;
    let reports: Vec<&String> = stopped
        .stderr
        .iter()
        .filter(|l| l.contains("POWERTOOLS_DEV"))
        .collect();
    assert_eq!(
        reports,
        [&"[powertools] ignoring POWERTOOLS_DEV=\"sometimes\": expected true or false; using the default".to_owned()],
        "{:?}",
        stopped.stderr
    );
    Ok(())
}

#[tokio::test]
async fn handler_errors_come_back_as_lambda_errors() -> Result<(), HarnessError> {
    let function = probe().await?;
    let outcome = function
        .invoke(InvocationRequest::json(&json!({"fail": "out of stock"}))?)
        .await?;
    let error = outcome.error().cloned();
    assert_eq!(
        error.as_ref().map(|e| e.error_type.as_str()),
        Some("ProbeError")
    );
    assert_eq!(
        error.as_ref().map(|e| e.error_message.as_str()),
        Some("out of stock")
    );
    assert!(matches!(
        outcome.json(),
        Err(HarnessError::FunctionFailed(_))
    ));
    // The function keeps serving after an error.
    let next = function
        .invoke(InvocationRequest::json(&json!({}))?)
        .await?;
    assert!(matches!(next, Outcome::Response(_)));
    Ok(())
}

#[tokio::test]
async fn malformed_event_is_an_error_not_a_crash() -> Result<(), HarnessError> {
    let function = probe().await?;
    let outcome = function.invoke(InvocationRequest::raw("{not json")).await?;
    assert!(outcome.error().is_some(), "{outcome:?}");
    let next = function
        .invoke(InvocationRequest::json(&json!({"ok": 1}))?)
        .await?
        .json()?;
    assert_eq!(next["payload"], json!({"ok": 1}));
    Ok(())
}

#[tokio::test]
async fn malformed_trace_header_disables_tracing_without_failing() -> Result<(), HarnessError> {
    let function = probe().await?;
    let out = function
        .invoke(InvocationRequest::json(&json!({}))?.trace_header("Root=garbage;Sampled=1"))
        .await?
        .json()?;
    assert_eq!(out["xray_trace_id"], Value::Null);
    assert_eq!(out["trace_sampled"], Value::Null);
    Ok(())
}

#[tokio::test]
async fn concurrent_invocations_keep_their_own_scope() -> Result<(), HarnessError> {
    let function = LocalFunction::builder(PROBE)
        .function_name("probe-lmi")
        .max_concurrency(8)
        .start()
        .await?;
    let mut pending = Vec::new();
    for n in 0..40u64 {
        let request = InvocationRequest::json(&json!({"sleep_ms": (n * 7) % 45}))?.sampled_trace();
        let trace = request.get_trace_header().map(str::to_owned);
        pending.push((function.enqueue(request)?, trace));
    }
    let mut cold = 0;
    let mut answered = Vec::new();
    let mut peak_in_flight = 0;
    for (pending, trace) in pending {
        let id = pending.request_id().to_owned();
        let out = function.wait(pending).await?.json()?;
        assert_eq!(out["context_request_id"], id);
        assert_eq!(out["scope_request_id"], id);
        assert_eq!(out["scope_request_id_after_await"], id);
        assert_eq!(out["scope_request_id_in_task"], id);
        let root = trace
            .as_deref()
            .and_then(|t| t.split(';').next())
            .and_then(|r| r.strip_prefix("Root="));
        assert_eq!(out["xray_trace_id"].as_str(), root);
        // Concurrent mode never passes the trace id through the process environment.
        assert_eq!(out["process_trace_env"], Value::Null);
        cold += usize::from(out["cold_start"] == json!(true));
        peak_in_flight = peak_in_flight.max(out["peak_in_flight"].as_u64().unwrap_or(0));
        answered.push(id);
    }
    assert_eq!(answered.len(), 40);
    assert_eq!(
        cold, 1,
        "exactly one of the concurrent invocations is the cold start"
    );
    assert!(
        peak_in_flight > 1,
        "invocations never overlapped (peak {peak_in_flight})"
    );
    Ok(())
}

#[tokio::test]
async fn a_function_that_dies_is_reported_not_awaited_forever() -> Result<(), HarnessError> {
    // `false` exits at once with status 1 without ever polling the Runtime API.
    let function = LocalFunction::builder("false").start().await?;
    let result = function.invoke(InvocationRequest::json(&json!({}))?).await;
    assert!(
        matches!(result, Err(HarnessError::FunctionExited { .. })),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error() {
    let result = LocalFunction::builder("/nonexistent/function")
        .start()
        .await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("could not start function binary"),
        "{message}"
    );
}

#[tokio::test]
async fn stop_returns_what_the_function_printed() -> Result<(), HarnessError> {
    let function = LocalFunction::builder("sh")
        .arg("-c")
        .arg("echo \"runtime api at $AWS_LAMBDA_RUNTIME_API for $AWS_LAMBDA_FUNCTION_NAME\"; echo oops >&2; exec sleep 30")
        .function_name("printer")
        .start()
        .await?;
    let expected_api = function.runtime_api().runtime_api_env();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = function.stop().await;
    assert_eq!(
        stopped.stdout,
        [format!("runtime api at {expected_api} for printer")]
    );
    assert_eq!(stopped.stderr, ["oops"]);
    assert!(stopped.exited_by_itself.is_none());
    Ok(())
}

/// The harness reports the function's peak memory, as Lambda's "Max Memory Used" does: a
/// running process has a few MiB resident, an exited one has no figure.
#[tokio::test]
async fn the_peak_memory_of_the_function_is_reported() -> Result<(), HarnessError> {
    let function = probe().await?;
    function
        .invoke(InvocationRequest::json(&json!({"order": "o-1"}))?)
        .await?;
    let peak = function.max_memory_used();
    if cfg!(target_os = "linux") {
        let peak = peak.unwrap_or(0);
        assert!(
            (1 << 20..1 << 30).contains(&peak),
            "{peak} bytes: between 1 MiB and 1 GiB"
        );
    }
    let _ = function.stop().await;
    Ok(())
}
