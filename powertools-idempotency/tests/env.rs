//! Every environment variable the crate reads, fed random values through an injected `Env`: no
//! panic, and a sane fallback.

use std::sync::atomic::{AtomicUsize, Ordering};

use powertools_core::Env;
use powertools_idempotency::{Idempotency, InMemoryStore};
use proptest::prelude::*;
use serde_json::json;

const VARIABLES: [&str; 3] = [
    "POWERTOOLS_IDEMPOTENCY_DISABLED",
    "AWS_LAMBDA_FUNCTION_NAME",
    "_HANDLER",
];

/// Hostile values: huge and negative numbers, unicode, blanks, booleans in odd cases.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("-18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("TRUE".to_owned()),
        Just(" yes ".to_owned()),
        Just("off".to_owned()),
        Just("1e400".to_owned()),
        Just("NaN".to_owned()),
        Just("🦀#ünï\u{0}\u{202e}".to_owned()),
        Just("#".to_owned()),
        any::<String>(),
        "[a-zA-Z0-9_.#-]{0,300}",
    ]
}

fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "y" | "on"
    )
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().build().ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_environment_values_never_panic_and_fall_back(
        values in proptest::collection::vec(proptest::option::of(value()), VARIABLES.len())
    ) {
        let pairs: Vec<(&str, String)> = VARIABLES
            .iter()
            .zip(&values)
            .filter_map(|(name, value)| value.clone().map(|v| (*name, v)))
            .collect();
        let get = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        let reports = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&reports);
        let env = Env::from_pairs(pairs.clone()).with_reporter(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let built = Idempotency::builder(InMemoryStore::new())
            .env(env)
            .event_key_jmespath("id")
            .build();
        prop_assert!(built.is_ok(), "{built:?}");
        let Ok(idem) = built else { return Ok(()) };

        // The prefix: `<function name or local>.<_HANDLER or handler>`, trimmed, never empty.
        let trimmed = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let expected = format!(
            "{}.{}",
            trimmed("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "local".to_owned()),
            trimmed("_HANDLER").unwrap_or_else(|| "handler".to_owned()),
        );
        prop_assert_eq!(idem.key_prefix(), expected.as_str());

        // Disabled only by a true value; anything else that is not false is reported.
        let disabled = get("POWERTOOLS_IDEMPOTENCY_DISABLED");
        let runs = AtomicUsize::new(0);
        let Some(rt) = runtime() else { return Err(TestCaseError::fail("no runtime")) };
        for _ in 0..2 {
            let out: Result<u32, _> = rt.block_on(idem.run(&json!({"id": "a"}), || async {
                Ok::<_, String>(u32::try_from(runs.fetch_add(1, Ordering::SeqCst)).unwrap_or(0))
            }));
            prop_assert!(out.is_ok(), "{out:?}");
        }
        let expected_runs = if disabled.as_deref().is_some_and(is_true) { 2 } else { 1 };
        prop_assert_eq!(runs.load(Ordering::SeqCst), expected_runs);
        let malformed = disabled.as_deref().is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !v.is_empty() && !is_true(&v) && !["false", "0", "no", "n", "off"].contains(&v.as_str())
        });
        prop_assert_eq!(reports.load(Ordering::SeqCst) > 0, malformed, "{:?}", disabled);
    }
}

#[cfg(feature = "dynamodb")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The default partition value of a composite-key table comes from the injected
    /// environment's function name; any value builds a store.
    #[test]
    fn the_partition_value_reads_the_function_name_from_env(name in value()) {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let store = powertools_idempotency::DynamoDbStore::builder(
            aws_sdk_dynamodb::Client::from_conf(config),
            "table",
        )
        .sort_key_attr("sk")
        .env(Env::from_pairs([("AWS_LAMBDA_FUNCTION_NAME", name.clone())]).with_reporter(|_| {}))
        .build();
        let debug = format!("{store:?}");
        let expected = format!("{:?}", format!("idempotency#{}", name.trim()));
        prop_assert!(debug.contains(&expected), "{expected} not in {debug}");
    }
}

/// An explicit function configuration names the function everywhere: in the default key prefix
/// (with `_HANDLER` still read from the environment) and in a composite-key table's default
/// partition value; the environment's function name is not read again.
#[test]
fn an_explicit_function_config_names_the_prefix_and_the_partition_value() {
    let config = powertools_core::FunctionConfig::builder()
        .function_name("orders-api")
        .build()
        .expect("a valid configuration");
    let env = || {
        Env::from_pairs([
            ("AWS_LAMBDA_FUNCTION_NAME", "from-env"),
            ("_HANDLER", "app.lambda_handler"),
        ])
    };
    let idempotency = Idempotency::builder(InMemoryStore::new())
        .env(env())
        .function_config(config.clone())
        .build()
        .expect("a valid configuration");
    assert_eq!(idempotency.key_prefix(), "orders-api.app.lambda_handler");

    #[cfg(feature = "dynamodb")]
    {
        let sdk = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let store = powertools_idempotency::DynamoDbStore::builder(
            aws_sdk_dynamodb::Client::from_conf(sdk),
            "table",
        )
        .sort_key_attr("sk")
        .env(env())
        .function_config(config)
        .build();
        let debug = format!("{store:?}");
        assert!(debug.contains("\"idempotency#orders-api\""), "{debug}");
    }
}
