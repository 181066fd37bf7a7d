//! Every environment variable the client reads, fed random values through an injected `Env`:
//! building never panics, a malformed value falls back to its default (reported), and what is
//! written is valid EMF.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::{ColdStart, Env};
use powertools_metrics::{Metrics, MetricsError, Unit};
use powertools_testing::CapturedOutput;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

const VARIABLES: [&str; 8] = [
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_FUNCTION_NAME",
    "POWERTOOLS_METRICS_DISABLED",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
];

fn env_value() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            3 => prop::sample::select(vec![
                "18446744073709551615", "-1", "0", "1", "", "   ", "true", "false", "TRUE", "yes",
                "off", "JSON", "json", "Text", "WARN", "error", "FATAL", "INFO", "AWS/Lambda",
                "Orders", "orders-api", "on-demand", "provisioned-concurrency", "snap-start",
                "_aws", ":colon", "ünïcödé", "\u{0}", "1e400", "NaN",
            ])
            .prop_map(str::to_owned),
            2 => "\\PC{0,40}",
            1 => any::<String>(),
            1 => (250usize..1100).prop_map(|n| "x".repeat(n)),
        ],
    )
}

/// The rules for a namespace, written out independently of the client.
fn valid_namespace(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/#: ".contains(c))
        && (1..=255).contains(&value.len())
        && !value.starts_with("AWS/")
}

/// The rules for a dimension value, written out independently of the client.
fn valid_dimension_value(value: &str) -> bool {
    value.is_ascii() && (1..=1024).contains(&value.len())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// One cold-start invocation that adds a metric; the blobs written.
fn invoke(m: &Metrics, captured: &CapturedOutput) -> Result<Vec<Value>, TestCaseError> {
    let handler_metrics = m.clone();
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(move |_e: LambdaEvent<Value>| {
            let metrics = handler_metrics.clone();
            async move {
                metrics.add_metric("Orders", Unit::Count, 1.0)?;
                Ok::<_, Error>(())
            }
        }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let result = runtime.block_on(service.oneshot(powertools_testing::test_event("r", json!({}))));
    prop_assert!(result.is_ok());
    captured
        .lines()
        .iter()
        .map(|line| common::check_blob(line).map_err(TestCaseError::fail))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn any_environment_builds_or_fails_cleanly_and_writes_valid_emf(
        values in prop::collection::vec(env_value(), VARIABLES.len()),
    ) {
        let pairs: Vec<(String, String)> = VARIABLES
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.clone().map(|v| ((*k).to_owned(), v)))
            .collect();
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let reported = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&reported);
        let env = Env::from_pairs(pairs.clone()).with_reporter(move |m| {
            if let Ok(mut r) = sink.lock() {
                r.push(m.key.clone());
            }
        });
        let captured = CapturedOutput::new();
        let built = Metrics::builder()
            .env(env)
            .writer(captured.line_writer())
            .clock(common::clock().clock())
            .build();
        let namespace = get("POWERTOOLS_METRICS_NAMESPACE");
        let m = match (namespace.as_deref(), built) {
            (None, Err(e)) => {
                prop_assert_eq!(e, MetricsError::MissingNamespace);
                return Ok(());
            }
            (Some(ns), Err(e)) => {
                prop_assert!(!valid_namespace(ns), "{:?} refused: {}", ns, e);
                prop_assert_eq!(e, MetricsError::InvalidNamespace(ns.to_owned()));
                return Ok(());
            }
            (Some(ns), Ok(m)) => {
                prop_assert!(valid_namespace(ns));
                prop_assert_eq!(m.namespace(), ns);
                m
            }
            (None, Ok(_)) => return Err(TestCaseError::fail("built without a namespace")),
        };
        let blobs = invoke(&m, &captured)?;
        let disabled = get("POWERTOOLS_METRICS_DISABLED").and_then(|v| parse_bool(&v)).unwrap_or(false);
        if disabled {
            prop_assert!(blobs.is_empty());
            return Ok(());
        }
        let orders: Vec<&Value> = blobs.iter().filter(|b| b.get("Orders").is_some()).collect();
        prop_assert_eq!(orders.len(), 1);
        // A malformed service name falls back to the default, reported.
        let service = get("POWERTOOLS_SERVICE_NAME");
        match service.as_deref().filter(|s| valid_dimension_value(s)) {
            Some(s) => prop_assert_eq!(&orders[0]["service"], s),
            None => prop_assert_eq!(&orders[0]["service"], "service_undefined"),
        }
        if service.as_deref().is_some_and(|s| !valid_dimension_value(s)) {
            prop_assert!(reported.lock().map(|r| r.iter().any(|k| k == "POWERTOOLS_SERVICE_NAME")).unwrap_or(false));
        }
        // The cold-start blob names a valid function, or is left out when none is known.
        // Only on-demand (the default) has cold starts.
        let cold_start = get("AWS_LAMBDA_INITIALIZATION_TYPE").is_none_or(|t| t == "on-demand");
        let function_name = get("POWERTOOLS_METRICS_FUNCTION_NAME")
            .filter(|n| valid_dimension_value(n))
            .or_else(|| get("AWS_LAMBDA_FUNCTION_NAME").filter(|n| valid_dimension_value(n)));
        let cold: Vec<&Value> = blobs.iter().filter(|b| b.get("ColdStart").is_some()).collect();
        if cold_start && let Some(name) = function_name.as_deref() {
            prop_assert_eq!(cold.len(), 1);
            prop_assert_eq!(&cold[0]["function_name"], name);
        }
        if !cold_start {
            prop_assert!(cold.is_empty());
        }
    }
}
