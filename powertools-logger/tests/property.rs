//! Whatever the keys and values, every line is one valid JSON object that keeps them.

use powertools_core::Invocation;
use powertools_logger::{Json, Logger};
use powertools_testing::{CapturedOutput, lambda_env};
use proptest::prelude::*;
use serde_json::{Map, Value};
use tracing_subscriber::layer::SubscriberExt;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn every_line_is_valid_json_keeping_keys_and_values(
        persistent in prop::collection::vec((any::<String>(), json_value()), 0..5),
        invocation_keys in prop::collection::vec((any::<String>(), json_value()), 0..5),
        message in any::<String>(),
        text in any::<String>(),
        number in any::<f64>(),
        structured in json_value(),
        redact in any::<bool>(),
    ) {
        let captured = CapturedOutput::new();
        let mut builder = Logger::builder()
            .env(lambda_env([("AWS_LAMBDA_FUNCTION_NAME", "fuzz")]))
            .writer(captured.line_writer());
        if redact {
            builder = builder.redact_key("password");
        }
        let logger = builder.build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        logger.append_persistent_keys(persistent.clone());
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer()));
        let invocation = Invocation::builder("req-fuzz").trace_header(text.clone()).build();
        invocation.sync_scope(|| {
            for (k, v) in &invocation_keys {
                powertools_logger::append_invocation_key(k.clone(), v.clone());
            }
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::info!(text = text.as_str(), number, structured = ?Json(&structured), "{message}");
                tracing::warn!(message = ?Json(&structured));
            });
        });

        let text_out = captured.text();
        let lines: Vec<&str> = text_out.lines().collect();
        prop_assert_eq!(lines.len(), 2);
        for line in &lines {
            let parsed: Value = serde_json::from_str(line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert!(parsed.is_object());
        }
        let first: Value = serde_json::from_str(lines[0])?;
        prop_assert_eq!(&first["message"], &Value::String(message.clone()));
        prop_assert_eq!(&first["text"], &Value::String(text.clone()));
        prop_assert_eq!(&first["function_request_id"], "req-fuzz");
        if !redact {
            prop_assert_eq!(&first["structured"], &structured);
            let second: Value = serde_json::from_str(lines[1])?;
            prop_assert_eq!(&second["message"], &structured);
        }
        if number.is_finite() {
            prop_assert_eq!(first["number"].as_f64(), Some(number));
        }
        // Every appended key is present: under its own name, or as extra_<name> when named like
        // a standard key (whose real value stays).
        let standard = ["level", "location", "message", "timestamp", "service", "cold_start", "function_name", "function_memory_size", "function_arn", "function_request_id", "tenant_id", "xray_trace_id", "correlation_id", "sampling_rate"];
        let shadowing = ["text", "number", "structured"];
        for (k, _) in persistent.iter().chain(invocation_keys.iter()) {
            let name = if standard.contains(&k.as_str()) { format!("extra_{k}") } else { k.clone() };
            prop_assert!(first.get(&name).is_some() || shadowing.contains(&k.as_str()), "missing {:?} in {}", name, lines[0]);
        }
        prop_assert_eq!(&first["level"], "INFO");
        prop_assert_eq!(&first["function_name"], "fuzz");
        prop_assert_eq!(&first["service"], "service_undefined");
    }
}
