//! Every EMF blob the tests produce goes through `blobs`, which validates it against the EMF
//! JSON Schema kept beside the tests and against the cross-field rules.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powertools_core::Env;
use powertools_metrics::{Metrics, MetricsBuilder};
use powertools_testing::CapturedOutput;
use serde_json::Value;

/// Checks one blob against the EMF schema and the cross-field rules.
pub fn check_blob(line: &str) -> Result<Value, String> {
    powertools_testing::emf::check_blob(line).map_err(|e| e.to_string())
}

/// Every blob written so far, each validated; a bad blob fails the test.
pub fn blobs(captured: &CapturedOutput) -> Vec<Value> {
    let lines = captured.lines();
    let blobs = powertools_testing::emf::blobs(captured)
        .unwrap_or_else(|e| unreachable!("invalid EMF blob: {e}"));
    assert_eq!(blobs.len(), lines.len(), "every line is an EMF blob");
    blobs
}

pub const NOW_MS: u64 = 1_795_268_547_000;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(NOW_MS)
}

/// A builder with a captured writer, a fixed clock and a Lambda-like environment.
pub fn builder(extra: &[(&str, &str)]) -> (MetricsBuilder, CapturedOutput) {
    let captured = CapturedOutput::new();
    let sink = captured.clone();
    let mut pairs: Vec<(String, String)> = vec![
        ("POWERTOOLS_SERVICE_NAME".into(), "orders".into()),
        ("POWERTOOLS_METRICS_NAMESPACE".into(), "Orders".into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "orders-api".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    let builder = Metrics::builder()
        .env(Env::from_pairs(pairs).with_reporter(|_| {}))
        .writer(move || sink.clone())
        .clock(now);
    (builder, captured)
}

pub fn metrics(extra: &[(&str, &str)]) -> (Metrics, CapturedOutput) {
    let (builder, captured) = builder(extra);
    (
        builder.build().unwrap_or_else(|e| unreachable!("{e}")),
        captured,
    )
}
