//! Every EMF blob the tests produce goes through `blobs`, which validates it against the EMF
//! JSON Schema kept beside the tests and against the cross-field rules.

#![allow(dead_code, unreachable_pub)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use powertools_core::Env;
use powertools_metrics::{Metrics, MetricsBuilder};
use powertools_testing::CapturedOutput;
use serde_json::Value;

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let raw = include_str!("../emf-schema.json");
        let schema: Value =
            serde_json::from_str(raw).unwrap_or_else(|e| unreachable!("schema is JSON: {e}"));
        jsonschema::validator_for(&schema).unwrap_or_else(|e| unreachable!("schema is valid: {e}"))
    })
}

/// Checks one blob; returns what is wrong.
pub fn check_blob(line: &str) -> Result<Value, String> {
    if line.len() > 256 * 1024 {
        return Err(format!("blob of {} bytes exceeds 256 KB", line.len()));
    }
    let blob: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
    let errors: Vec<String> = validator()
        .iter_errors(&blob)
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(format!("schema: {errors:?} in {line}"));
    }
    let directives = blob["_aws"]["CloudWatchMetrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for directive in directives {
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            for key in set.as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                match blob.get(key) {
                    Some(Value::String(v)) if !v.trim().is_empty() && v.len() <= 1024 => {}
                    other => {
                        return Err(format!(
                            "dimension {key:?} is not a non-empty string root member: {other:?}"
                        ));
                    }
                }
            }
        }
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let name = metric["Name"].as_str().unwrap_or_default();
            match blob.get(name) {
                Some(Value::Array(values)) => {
                    if values.is_empty()
                        || values.len() > 100
                        || !values.iter().all(Value::is_number)
                    {
                        return Err(format!("metric {name:?} values: {values:?}"));
                    }
                }
                Some(Value::Number(_)) => {}
                other => return Err(format!("metric {name:?} is not a root member: {other:?}")),
            }
        }
    }
    Ok(blob)
}

/// Every blob written so far, each validated; a bad blob fails the test.
pub fn blobs(captured: &CapturedOutput) -> Vec<Value> {
    captured
        .lines()
        .iter()
        .map(|line| check_blob(line).unwrap_or_else(|e| unreachable!("invalid EMF blob: {e}")))
        .collect()
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
