//! Whatever the environment holds, building the logger never panics, never fails, and falls
//! back to sane values; every line it writes is still one valid JSON object.

use powertools_core::{Env, Invocation};
use powertools_logger::Logger;
use powertools_testing::CapturedOutput;
use proptest::prelude::*;
use serde_json::Value;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Every variable the logger reads (itself or through the function configuration).
const VARIABLES: [&str; 15] = [
    "POWERTOOLS_SERVICE_NAME",
    "AWS_LAMBDA_LOG_LEVEL",
    "POWERTOOLS_LOG_LEVEL",
    "LOG_LEVEL",
    "POWERTOOLS_LOGGER_SAMPLE_RATE",
    "POWERTOOLS_LOGGER_LOG_EVENT",
    "POWERTOOLS_DEV",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_REGION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_MAX_CONCURRENCY",
    "AWS_LAMBDA_LOG_GROUP_NAME",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,12}",
        prop::sample::select(vec![
            "",
            " ",
            "0",
            "1",
            "-1",
            "0.3",
            "1.0000001",
            "-0",
            "NaN",
            "inf",
            "-inf",
            "1e309",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "340282366920938463463374607431768211456",
            "true",
            "FALSE",
            "yes",
            "DEBUG",
            "fatal",
            "Warning",
            "off",
            "JSON",
            "Text",
            "é漢字🦀",
            "\u{0}",
        ])
        .prop_map(str::to_owned),
        any::<i128>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ]
}

fn known_level(raw: Option<&String>) -> bool {
    raw.is_some_and(|raw| {
        matches!(
            raw.trim().to_ascii_uppercase().as_str(),
            "TRACE"
                | "DEBUG"
                | "INFO"
                | "WARN"
                | "WARNING"
                | "ERROR"
                | "FATAL"
                | "CRITICAL"
                | "OFF"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn any_environment_builds_a_logger_with_sane_fallbacks(
        values in prop::collection::vec(prop::option::of(value()), VARIABLES.len()),
    ) {
        let pairs: Vec<(String, String)> = VARIABLES
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.clone().map(|v| ((*k).to_owned(), v)))
            .collect();
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let captured = CapturedOutput::new();
        let logger = Logger::builder()
            .env(Env::from_pairs(pairs.clone()).with_reporter(|_| {}))
            .writer(captured.line_writer())
            .build()
            .map_err(|e| TestCaseError::fail(format!("from the environment alone: {e}")))?;

        let level = logger.level();
        let any_level_set = ["AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"]
            .iter()
            .any(|k| known_level(get(k)));
        if !any_level_set {
            prop_assert_eq!(level, LevelFilter::INFO, "no valid level: INFO");
        }

        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer()));
        Invocation::builder("req-env").build().sync_scope(|| {
            tracing::dispatcher::with_default(&dispatch, || tracing::error!(n = 1, "still logging"));
        });
        let text = captured.text();
        let lines: Vec<Value> = serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        if level == LevelFilter::OFF {
            // Off, unless this invocation was sampled for DEBUG (which raises the level).
            prop_assert!(
                lines.is_empty() || lines.iter().all(|l| l.get("sampling_rate").is_some()),
                "{}",
                text
            );
            return Ok(());
        }
        prop_assert_eq!(lines.len(), 1, "{}", text);
        let line = &lines[0];
        prop_assert_eq!(&line["message"], "still logging");
        prop_assert_eq!(&line["level"], "ERROR");
        prop_assert_eq!(&line["function_request_id"], "req-env");
        prop_assert!(line["service"].as_str().is_some_and(|s| !s.is_empty()), "{}", line);
        if let Some(size) = line.get("function_memory_size") {
            prop_assert!(size.is_u64(), "{}", line);
        }
        if let Some(rate) = line.get("sampling_rate") {
            prop_assert!(rate.as_f64().is_some_and(|r| r > 0.0 && r <= 1.0), "{}", line);
        }
        let json_format = get("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.trim().eq_ignore_ascii_case("json"));
        if json_format {
            prop_assert_eq!(text.lines().count(), 1, "one object per line for Lambda: {}", text);
        }
    }
}
