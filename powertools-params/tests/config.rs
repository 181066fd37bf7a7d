//! Configuration never panics: random environment values for every variable the crate reads,
//! random builder values (max age, stale window, capacity 0), random per-call max ages and
//! clock moves (forward and back, huge jumps), then reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use powertools_core::Env;
use powertools_params::{DEFAULT_MAX_AGE, GetOptions, InMemoryProvider, Parameters, Transform};
use powertools_testing::ManualClock;
use proptest::prelude::*;

/// What an operator might put in a variable: numbers too large for any integer type,
/// negatives, fractions, units, blanks, padding, any Unicode.
fn env_values() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("340282366920938463463374607431768211456".to_owned()),
        Just(String::new()),
        Just("   ".to_owned()),
        "-[0-9]{1,25}",
        "[0-9]{1,25}",
        " ?[0-9]{1,4} ?",
        "[0-9]{1,5}\\.[0-9]{1,5}",
        "[0-9]{1,3}(s|ms| seconds|e3)",
        "(true|false|TRUE|yes|no|on|off|1|0|y|n| true )",
        "\\PC{0,12}",
        any::<String>(),
    ]
}

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_secs(u64::MAX)),
        (0u64..100_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Get,
    GetWith {
        max_age: Option<Duration>,
        force: bool,
    },
    GetJson,
    GetTransformed,
    GetMultiple {
        max_age: Option<Duration>,
        force: bool,
    },
    Forward(u64),
    Back(u64),
    Failing(bool),
    Clear,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        Just(Step::Get),
        (proptest::option::of(durations()), any::<bool>())
            .prop_map(|(max_age, force)| Step::GetWith { max_age, force }),
        Just(Step::GetJson),
        Just(Step::GetTransformed),
        (proptest::option::of(durations()), any::<bool>())
            .prop_map(|(max_age, force)| Step::GetMultiple { max_age, force }),
        prop_oneof![0u64..10_000, any::<u64>()].prop_map(Step::Forward),
        prop_oneof![0u64..10_000, any::<u64>()].prop_map(Step::Back),
        any::<bool>().prop_map(Step::Failing),
        Just(Step::Clear),
    ];
    proptest::collection::vec(step, 0..24)
}

/// A clock that moves by any amount without overflowing (milliseconds since the epoch).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map(|runtime| runtime.block_on(future))
        .expect("a current-thread runtime")
}

/// An `Env` holding `pairs` whose malformed-value reports are collected.
fn collecting(pairs: Vec<(&'static str, String)>) -> (Env, Arc<Mutex<Vec<String>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    let env = Env::from_pairs(pairs).with_reporter(move |problem| {
        seen.lock().unwrap().push(problem.key.clone());
    });
    (env, reports)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_max_age_in_the_environment_is_used_or_falls_back(value in env_values()) {
        let (env, reports) = collecting(vec![("POWERTOOLS_PARAMETERS_MAX_AGE", value.clone())]);
        let p = Parameters::builder(InMemoryProvider::new()).env(env).build().unwrap();
        let trimmed = value.trim();
        let reported = reports.lock().unwrap().len();
        match trimmed.parse::<u64>() {
            Ok(seconds) => {
                prop_assert_eq!(p.max_age(), Duration::from_secs(seconds));
                prop_assert_eq!(reported, 0);
            }
            Err(_) => {
                prop_assert_eq!(p.max_age(), DEFAULT_MAX_AGE);
                prop_assert_eq!(reported, usize::from(!trimmed.is_empty()), "malformed: reported once");
            }
        }
    }

    #[test]
    fn no_configuration_and_no_clock_move_makes_a_read_panic(
        max_age_env in env_values(),
        decrypt_env in env_values(),
        max_age in proptest::option::of(durations()),
        stale_if_error in proptest::option::of(durations()),
        capacity in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>()],
        start in prop_oneof![Just(0u64), Just(1_795_268_547_000), any::<u64>()],
        steps in steps(),
    ) {
        let (env, _) = collecting(vec![
            ("POWERTOOLS_PARAMETERS_MAX_AGE", max_age_env),
            ("POWERTOOLS_PARAMETERS_SSM_DECRYPT", decrypt_env),
        ]);
        let provider = InMemoryProvider::new();
        provider.set("/app/flag", "on");
        provider.set("/app/config.json", r#"{"limit": 3}"#);
        provider.set("/app/limits/max", "10");
        let clock = ManualClock::at_epoch_millis(start);
        let mut builder = Parameters::builder(provider)
            .env(env)
            .capacity(capacity)
            .clock(clock.clock());
        if let Some(max_age) = max_age {
            builder = builder.max_age(max_age);
        }
        if let Some(window) = stale_if_error {
            builder = builder.stale_if_error(window);
        }
        let p = builder.build().unwrap();
        block_on(async {
            for step in steps {
                match step {
                    Step::Get => {
                        let _ = p.get("/app/flag").await;
                    }
                    Step::GetWith { max_age, force } => {
                        let mut options = GetOptions::new();
                        if let Some(max_age) = max_age {
                            options = options.max_age(max_age);
                        }
                        if force {
                            options = options.force_fetch();
                        }
                        let _ = p.get_with("/app/flag", options).await;
                    }
                    Step::GetJson => {
                        let _ = p.get_json::<serde_json::Value>("/app/config.json").await;
                    }
                    Step::GetTransformed => {
                        let _ = p.get_transformed("/app/config.json", Transform::Auto).await;
                    }
                    Step::GetMultiple { max_age, force } => {
                        let mut options = GetOptions::new();
                        if let Some(max_age) = max_age {
                            options = options.max_age(max_age);
                        }
                        if force {
                            options = options.force_fetch();
                        }
                        let _ = p.get_multiple("/app/limits", options).await;
                    }
                    Step::Forward(ms) => clock.advance(Duration::from_millis(ms)),
                    Step::Back(ms) => {
                        clock.set_epoch_millis(clock.epoch_millis().saturating_sub(ms));
                    }
                    Step::Failing(failing) => p.provider().set_failing(failing),
                    Step::Clear => p.clear_cache(),
                }
            }
        });
        // Working again: a fresh read of an existing name succeeds whatever happened before.
        p.provider().set_failing(false);
        let value = block_on(p.get_with("/app/flag", GetOptions::new().force_fetch())).ok();
        prop_assert_eq!(value.as_deref(), Some("on"));
    }
}

#[cfg(feature = "ssm")]
mod ssm {
    use super::*;

    fn client() -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_decrypt_value_in_the_environment_is_used_or_falls_back(value in env_values()) {
            let (env, reports) =
                collecting(vec![("POWERTOOLS_PARAMETERS_SSM_DECRYPT", value.clone())]);
            let provider = powertools_params::SsmProvider::with_env(client(), &env);
            let expected = match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" | "on" => Some(true),
                "false" | "0" | "no" | "n" | "off" => Some(false),
                _ => None,
            };
            let reported = reports.lock().unwrap().len();
            prop_assert_eq!(provider.decrypts(), expected.unwrap_or(false));
            prop_assert_eq!(
                reported,
                usize::from(expected.is_none() && !value.trim().is_empty()),
                "malformed: reported once"
            );
        }
    }
}
