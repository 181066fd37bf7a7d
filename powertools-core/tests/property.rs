//! Property tests over open input: the trace header Lambda hands each invocation and every
//! environment variable `FunctionConfig` reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use powertools_core::{Env, FunctionConfig, Invocation, Sampling, TraceContext, TraceHeader};
use proptest::prelude::*;

fn hex(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![0u8..10, 10u8..16].prop_map(|d| char::from_digit(u32::from(d), 16)),
        len,
    )
    .prop_map(|digits| digits.into_iter().flatten().collect())
}

/// Strings that look like what an attacker or a broken proxy could put in the header.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ;=A-Za-z0-9\\-?]{0,80}",
        Just("Root=".repeat(1_000)),
        Just(";;;;===;;;".to_owned()),
        "(Root|Parent|Sampled|Lineage)=[^;]{0,40}(;(Root|Parent|Sampled|Lineage)=[^;]{0,40}){0,4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_header_parses_or_is_rejected_without_panicking(raw in hostile()) {
        if let Ok(header) = TraceHeader::parse(&raw) {
            // What is accepted is well formed.
            let root = header.root();
            prop_assert_eq!(root.len(), 35);
            prop_assert!(root.starts_with("1-"));
            prop_assert!(header.parent().is_none_or(|p| p.len() == 16));
        }
        // The invocation scope takes it too, whatever it is.
        let context = TraceContext::from_header(Some(&raw));
        let invocation = Invocation::builder("r").trace_header(raw.clone()).build();
        prop_assert_eq!(invocation.trace(), &context);
    }

    #[test]
    fn well_formed_headers_parse_in_any_order_spacing_and_case(
        time in hex(8),
        id in hex(24),
        parent in proptest::option::of(hex(16)),
        sampled in prop_oneof![Just(Some("1")), Just(Some("0")), Just(Some("?")), Just(None)],
        lineage in proptest::option::of("[a-f0-9]{8}:[0-9]{1,2}"),
        upper in any::<bool>(),
        shuffle in any::<u64>(),
        space in prop_oneof![Just(""), Just(" "), Just("  ")],
    ) {
        let root = format!("1-{time}-{id}");
        let written = if upper { root.to_uppercase() } else { root.clone() };
        let mut fields = vec![format!("Root={written}")];
        if let Some(parent) = &parent {
            fields.push(format!("Parent={parent}"));
        }
        if let Some(sampled) = sampled {
            fields.push(format!("Sampled={sampled}"));
        }
        if let Some(lineage) = &lineage {
            fields.push(format!("Lineage={lineage}"));
        }
        let n = fields.len();
        fields.rotate_left((shuffle as usize) % n);
        let raw = fields.join(&format!("{space};{space}"));
        let header = TraceHeader::parse(&raw).map_err(|e| TestCaseError::fail(format!("{raw}: {e}")))?;
        prop_assert_eq!(header.root(), root.to_lowercase());
        prop_assert_eq!(header.parent().map(str::to_owned), parent.map(|p| p.to_lowercase()));
        let expected = match sampled {
            Some("1") => Sampling::Sampled,
            Some("0") => Sampling::NotSampled,
            _ => Sampling::Requested,
        };
        prop_assert_eq!(header.sampling(), expected);
    }
}

/// Values an environment variable may hold: numbers at and past every limit, signs, floats,
/// blanks, unicode, huge strings.
fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        Just("18446744073709551615".to_owned()),
        Just("340282366920938463463374607431768211456".to_owned()),
        Just("-1".to_owned()),
        Just("".to_owned()),
        Just("   ".to_owned()),
        Just("true".to_owned()),
        Just("NaN".to_owned()),
        Just("x".repeat(100_000)),
    ]
}

const VARIABLES: [&str; 11] = [
    "POWERTOOLS_SERVICE_NAME",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_MAX_CONCURRENCY",
    "POWERTOOLS_DEV",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_environment_gives_a_sane_configuration(
        values in proptest::collection::vec(proptest::option::of(env_value()), VARIABLES.len()),
    ) {
        let map: HashMap<String, String> = VARIABLES
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| v.clone().map(|v| ((*k).to_owned(), v)))
            .collect();
        let reports = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&reports);
        let set: Vec<String> = map.keys().cloned().collect();
        let env = Env::from_lookup(move |k| map.get(k).cloned()).with_reporter(move |malformed| {
            if let Ok(mut seen) = seen.lock() {
                seen.push(malformed.key.clone());
            }
        });
        let config = FunctionConfig::from_source(&env);
        prop_assert!(!config.service_name().trim().is_empty());
        prop_assert!(config.memory_size_mb().is_none_or(|mb| mb > 0));
        prop_assert!(config.max_concurrency().is_none_or(|n| n > 0));
        // The builder accepts the result back unchanged.
        let rebuilt = config.to_builder().build();
        prop_assert!(rebuilt.is_ok(), "{:?}", rebuilt);
        // Only variables that were set are reported, and each at most once.
        let reported = reports.lock().map(|r| r.clone()).unwrap_or_default();
        let mut unique = reported.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), reported.len(), "{:?}", reported);
        prop_assert!(reported.iter().all(|k| set.contains(k)), "{:?}", reported);
    }
}
