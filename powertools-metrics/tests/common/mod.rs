//! Every EMF blob the tests produce goes through `blobs`, which validates it against the EMF
//! JSON Schema kept beside the tests and against the cross-field rules.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use powertools_metrics::{Metrics, MetricsBuilder};
use powertools_testing::{CapturedOutput, ManualClock, lambda_env};
use serde_json::Value;

/// Checks one blob against the EMF schema and the cross-field rules.
pub fn check_blob(line: &str) -> Result<Value, String> {
    powertools_testing::emf::check_blob(line).map_err(|e| e.to_string())
}

/// Every blob written so far, each validated; a bad blob fails the test.
pub fn blobs(captured: &CapturedOutput) -> Vec<Value> {
    let lines = captured.lines();
    let blobs = powertools_testing::emf::blobs(captured).expect("every blob is valid EMF");
    assert_eq!(blobs.len(), lines.len(), "every line is an EMF blob");
    blobs
}

pub const NOW_MS: u64 = 1_795_268_547_000;

/// The time of the tests' clock.
pub fn now() -> SystemTime {
    clock().now()
}

/// The tests' clock, standing at [`NOW_MS`].
pub fn clock() -> ManualClock {
    ManualClock::at_epoch_millis(NOW_MS)
}

/// A builder with a captured writer, a fixed clock and a Lambda-like environment (function
/// `orders-api`, service `orders`, namespace `Orders`, then `extra`).
pub fn builder(extra: &[(&str, &str)]) -> (MetricsBuilder, CapturedOutput) {
    let captured = CapturedOutput::new();
    let mut pairs = vec![
        ("POWERTOOLS_SERVICE_NAME", "orders"),
        ("POWERTOOLS_METRICS_NAMESPACE", "Orders"),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
    ];
    pairs.extend_from_slice(extra);
    let builder = Metrics::builder()
        .env(lambda_env(pairs).with_reporter(|_| {}))
        .writer(captured.line_writer())
        .clock(clock().clock());
    (builder, captured)
}

pub fn metrics(extra: &[(&str, &str)]) -> (Metrics, CapturedOutput) {
    let (builder, captured) = builder(extra);
    (builder.build().unwrap(), captured)
}
