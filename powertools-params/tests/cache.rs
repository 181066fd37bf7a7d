//! The caching front over the in-memory provider: TTL, single-flight, force fetch,
//! stale-if-error, transforms, errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use powertools_core::Env;
use powertools_params::{
    GetOptions, InMemoryProvider, ParameterError, Parameters, Transform, Transformed,
};
use powertools_testing::ManualClock;
use serde_json::json;

fn manual_clock() -> ManualClock {
    ManualClock::at_epoch_millis(1_795_268_547_000)
}

fn parameters(clock: &ManualClock) -> Parameters<InMemoryProvider> {
    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .clock(clock.clock())
        .build()
        .unwrap()
}

#[tokio::test]
async fn values_are_cached_for_their_max_age() {
    let clock = manual_clock();
    let p = parameters(&clock);
    assert_eq!(p.get("/orders/flag").await.unwrap(), "on");
    p.provider().set("/orders/flag", "off");
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        p.get("/orders/flag").await.unwrap(),
        "on",
        "still within 5 s"
    );
    assert_eq!(p.provider().calls(), 1);
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        p.get("/orders/flag").await.unwrap(),
        "off",
        "expired: fetched again"
    );
    assert_eq!(p.provider().calls(), 2);
}

#[tokio::test]
async fn max_age_from_the_environment_and_per_call() {
    let clock = manual_clock();
    let provider = InMemoryProvider::new();
    provider.set("p", "1");
    let p = Parameters::builder(provider)
        .env(Env::from_pairs([("POWERTOOLS_PARAMETERS_MAX_AGE", "60")]))
        .clock(clock.clock())
        .build()
        .unwrap();
    let _ = p.get("p").await;
    clock.advance(Duration::from_secs(30));
    let _ = p.get("p").await;
    assert_eq!(p.provider().calls(), 1, "60 s from the environment");
    let _ = p
        .get_with("p", GetOptions::new().max_age(Duration::from_secs(10)))
        .await;
    assert_eq!(p.provider().calls(), 2, "this call accepts only 10 s");
    let _ = p.get_with("p", GetOptions::new().force_fetch()).await;
    assert_eq!(p.provider().calls(), 3, "force fetch");
    p.clear_cache();
    let _ = p.get("p").await;
    assert_eq!(p.provider().calls(), 4, "cleared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_gets_of_a_cold_name_make_one_call() {
    let clock = manual_clock();
    let p = parameters(&clock);
    let run = |p: Parameters<InMemoryProvider>| async move {
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.get("/orders/flag").await.ok() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.ok().flatten().as_deref(), Some("on"));
        }
    };
    run(p.clone()).await;
    assert_eq!(p.provider().calls(), 1, "cold: one backend call");
    clock.advance(Duration::from_secs(6));
    run(p.clone()).await;
    assert_eq!(
        p.provider().calls(),
        2,
        "expired under load: one more call, no stampede"
    );
}

#[tokio::test]
async fn missing_parameters_and_bad_values_name_the_parameter() {
    let clock = manual_clock();
    let p = parameters(&clock);
    p.provider().set("/orders/config.json", "{not json");
    p.provider().set("/orders/key.binary", "%%%");
    let missing = p.get("/orders/none").await;
    assert!(
        matches!(missing, Err(ParameterError::NotFound { ref name }) if name == "/orders/none")
    );
    let bad_json: Result<serde_json::Value, _> = p.get_json("/orders/config.json").await;
    let message = bad_json.unwrap_err().to_string();
    assert!(
        message.contains("/orders/config.json") && message.contains("JSON"),
        "{message}"
    );
    assert!(
        !message.contains("{not json"),
        "the value never appears in the error: {message}"
    );
    assert!(p.get_binary("/orders/key.binary").await.is_err());
}

#[tokio::test]
async fn transforms_by_name_suffix_and_binary() {
    let clock = manual_clock();
    let p = parameters(&clock);
    p.provider().set("/app/settings.json", r#"{"limit": 3}"#);
    p.provider().set("/app/cert.binary", "aGVsbG8=");
    p.provider().set_binary("/app/raw", vec![0, 159, 146, 150]);
    assert_eq!(
        p.get_transformed("/app/settings.json", Transform::Auto)
            .await
            .unwrap(),
        Transformed::Json(json!({"limit": 3}))
    );
    assert_eq!(
        p.get_transformed("/app/cert.binary", Transform::Auto)
            .await
            .unwrap(),
        Transformed::Binary(b"hello".to_vec())
    );
    assert_eq!(
        p.get_transformed("/orders/flag", Transform::Auto)
            .await
            .unwrap(),
        Transformed::Text("on".into())
    );
    assert_eq!(
        p.get_binary("/app/raw").await.unwrap(),
        vec![0, 159, 146, 150]
    );
    assert!(p.get("/app/raw").await.is_err(), "not UTF-8 text");
}

#[tokio::test]
async fn a_failing_backend_is_an_error_unless_stale_if_error_is_on() {
    let clock = manual_clock();
    let p = parameters(&clock);
    let _ = p.get("/orders/flag").await;
    p.provider().set_failing(true);
    clock.advance(Duration::from_secs(6));
    let error = p.get("/orders/flag").await;
    assert!(
        matches!(error, Err(ParameterError::Backend { .. })),
        "{error:?}"
    );

    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    let stale = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .clock(clock.clock())
        .stale_if_error(Duration::from_secs(60))
        .build()
        .unwrap();
    let _ = stale.get("/orders/flag").await;
    stale.provider().set_failing(true);
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        stale.get("/orders/flag").await.unwrap(),
        "on",
        "the last good value"
    );
    clock.advance(Duration::from_secs(40));
    assert!(
        stale.get("/orders/flag").await.is_err(),
        "past max age + window"
    );
    stale.provider().set_failing(false);
    assert_eq!(stale.get("/orders/flag").await.unwrap(), "on");
    // A missing parameter is never papered over.
    assert!(matches!(
        stale.get("/missing").await,
        Err(ParameterError::NotFound { .. })
    ));
}

#[tokio::test]
async fn secrets_and_values_never_show_in_debug_output() {
    let clock = manual_clock();
    let p = parameters(&clock);
    p.provider().set("/db/password", "hunter2");
    let secret = p.get_secret("/db/password").await.unwrap();
    let shown = format!("{secret:?} {secret}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(secret.expose(), "hunter2");
    let raw = p.get_raw("/db/password", GetOptions::new()).await;
    assert!(!format!("{raw:?} {p:?}").contains("hunter2"));
}

#[tokio::test]
async fn values_under_a_path() {
    let clock = manual_clock();
    let p = parameters(&clock);
    p.provider().set("/orders/limits/max", "10");
    p.provider().set("/orders/limits/min", "1");
    let values = p
        .get_multiple("/orders/limits", GetOptions::new())
        .await
        .unwrap();
    let names: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["max", "min"]);
    let calls = p.provider().calls();
    let _ = p.get_multiple("/orders/limits", GetOptions::new()).await;
    assert_eq!(p.provider().calls(), calls, "cached");
}

#[tokio::test]
async fn stale_if_error_with_the_largest_max_age_or_window_does_not_overflow() {
    let clock = manual_clock();
    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    let p = Parameters::builder(provider)
        .env(Env::from_pairs([(
            "POWERTOOLS_PARAMETERS_MAX_AGE",
            "18446744073709551615",
        )]))
        .clock(clock.clock())
        .stale_if_error(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(p.max_age(), Duration::from_secs(u64::MAX));
    assert_eq!(p.get("/orders/flag").await.unwrap(), "on");
    p.provider().set_failing(true);
    clock.advance(Duration::from_secs(6));
    // A forced fetch that fails falls back to the last good value: max age + window is beyond
    // any representable duration, which means "still within the window".
    assert_eq!(
        p.get_with("/orders/flag", GetOptions::new().force_fetch())
            .await
            .unwrap(),
        "on"
    );

    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    let p = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .clock(clock.clock())
        .stale_if_error(Duration::MAX)
        .build()
        .unwrap();
    let _ = p.get("/orders/flag").await;
    p.provider().set_failing(true);
    clock.advance(Duration::from_secs(6));
    assert_eq!(
        p.get("/orders/flag").await.unwrap(),
        "on",
        "expired, backend down, within an endless window"
    );
    assert_eq!(
        p.get_with(
            "/orders/flag",
            GetOptions::new().max_age(Duration::MAX).force_fetch()
        )
        .await
        .unwrap(),
        "on"
    );
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity_and_evicted_names_are_fetched_again() {
    let clock = manual_clock();
    let provider = InMemoryProvider::new();
    let names: Vec<String> = (0..40).map(|i| format!("/orders/p{i:02}")).collect();
    for name in &names {
        provider.set(name, name);
    }
    let p = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .clock(clock.clock())
        .capacity(8)
        .build()
        .unwrap();
    for name in &names {
        assert_eq!(p.get(name).await.unwrap(), name.as_str());
    }
    assert_eq!(p.provider().calls(), 40);
    let held = p.cached_len().await;
    assert!(
        (1..=8).contains(&held),
        "{held} values held with a capacity of 8"
    );

    // Every value is still young: only the evicted ones (at least 32) are fetched again, and
    // the cache still holds no more than 8 afterwards.
    for name in &names {
        assert_eq!(p.get(name).await.unwrap(), name.as_str());
    }
    let refetched = p.provider().calls() - 40;
    assert!(
        (32..=40).contains(&refetched),
        "{refetched} names fetched again"
    );
    assert!(p.cached_len().await <= 8);
}

#[tokio::test]
async fn the_least_recently_used_values_go_first() {
    let clock = manual_clock();
    let provider = InMemoryProvider::new();
    for i in 0..12 {
        provider.set(format!("/p{i:02}"), "v");
    }
    let p = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .clock(clock.clock())
        .capacity(4)
        .build()
        .unwrap();
    for i in 0..12 {
        let _ = p.get(&format!("/p{i:02}")).await;
        // Evictions run in the cache's maintenance: after each insert, as a busy cache would.
        let _ = p.cached_len().await;
    }
    assert_eq!(p.provider().calls(), 12);
    // The four most recent stay cached: no call.
    for i in 8..12 {
        let _ = p.get(&format!("/p{i:02}")).await;
    }
    assert_eq!(p.provider().calls(), 12, "the four most recent are cached");
    // The oldest was evicted: fetched again.
    let _ = p.get("/p00").await;
    assert_eq!(p.provider().calls(), 13, "the oldest was evicted");
}

/// Polls `cached_len()` until it is `expected` (the cache measures expiry with its own
/// monotonic clock, so real time must pass); `false` after a generous bound.
async fn eventually_holds(p: &Parameters<InMemoryProvider>, expected: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if p.cached_len().await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn expired_values_leave_memory() {
    let provider = InMemoryProvider::new();
    provider.set("/db/password", "hunter2");
    let p = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .max_age(Duration::from_millis(50))
        .build()
        .unwrap();
    assert_eq!(p.get("/db/password").await.unwrap(), "hunter2");
    assert_eq!(p.cached_len().await, 1);
    assert!(
        eventually_holds(&p, 0).await,
        "an expired secret is removed from memory, not only fetched again"
    );
    assert_eq!(p.provider().calls(), 1, "nothing was read meanwhile");
}

#[tokio::test]
async fn values_stay_in_memory_for_the_stale_if_error_window() {
    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    let p = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .max_age(Duration::from_millis(20))
        .stale_if_error(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(p.get("/orders/flag").await.unwrap(), "on");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(p.cached_len().await, 1, "kept for the window");
    p.provider().set_failing(true);
    assert_eq!(
        p.get("/orders/flag").await.unwrap(),
        "on",
        "expired, backend down: the last good value, still in memory"
    );
    assert_eq!(p.provider().calls(), 2);
}

#[tokio::test]
async fn a_read_with_a_longer_max_age_keeps_its_value_longer() {
    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    let p = Parameters::builder(provider)
        .env(Env::from_lookup(|_| None))
        .max_age(Duration::from_millis(20))
        .build()
        .unwrap();
    let long = GetOptions::new().max_age(Duration::from_secs(3600));
    assert_eq!(p.get_with("/orders/flag", long).await.unwrap(), "on");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(p.cached_len().await, 1, "kept for the read's max age");
    assert_eq!(p.get_with("/orders/flag", long).await.unwrap(), "on");
    assert_eq!(p.provider().calls(), 1);
}

#[tokio::test]
async fn a_failing_in_memory_provider_fails_paths_too() {
    let clock = manual_clock();
    let p = parameters(&clock);
    p.provider().set("/orders/limits/max", "10");
    p.provider().set_failing(true);
    let error = p
        .get_multiple("/orders/limits", GetOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(error, ParameterError::Backend { .. }), "{error:?}");
}

#[test]
fn build_refuses_only_an_explicit_empty_service_name() {
    let refused = Parameters::builder(InMemoryProvider::new())
        .env(Env::from_lookup(|_| None))
        .service_name(" ")
        .build();
    assert!(
        matches!(refused, Err(powertools_core::ConfigError::EmptyServiceName)),
        "{:?}",
        refused.err()
    );
    let built = Parameters::builder(InMemoryProvider::new())
        .env(Env::from_pairs([("POWERTOOLS_SERVICE_NAME", " ")]))
        .build();
    assert!(built.is_ok(), "the environment never makes it fail");
}

/// With the system clock a hit whose read accepts exactly the entry's time to live is judged
/// fresh by the cache's own expiry, without a clock read. Every other read still checks the
/// value's age: a per-call max age shorter than the client's, and a stale-if-error window
/// that keeps the entry longer than the max age. None of them serves a value past its age.
#[tokio::test]
async fn with_the_system_clock_no_read_gets_a_value_older_than_it_accepts() {
    let build = |stale_if_error: Option<Duration>| {
        let provider = InMemoryProvider::new();
        provider.set("/orders/flag", "on");
        let builder = Parameters::builder(provider)
            .env(Env::from_lookup(|_| None))
            .max_age(Duration::from_millis(300));
        match stale_if_error {
            Some(window) => builder.stale_if_error(window),
            None => builder,
        }
        .build()
        .unwrap()
    };
    for stale_if_error in [None, Some(Duration::from_secs(60))] {
        let p = build(stale_if_error);
        assert_eq!(&*p.get_shared("/orders/flag").await.unwrap(), "on");
        p.provider().set("/orders/flag", "off");
        assert_eq!(p.get("/orders/flag").await.unwrap(), "on", "a hit");
        assert_eq!(p.provider().calls(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            &*p.get_shared("/orders/flag").await.unwrap(),
            "off",
            "older than 300 ms ({stale_if_error:?}): fetched again"
        );
        assert_eq!(p.provider().calls(), 2);

        // A shorter max age for one read: the entry is kept for the client's 300 ms.
        p.provider().set("/orders/flag", "on again");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let short = GetOptions::new().max_age(Duration::from_millis(100));
        assert_eq!(
            p.get_with("/orders/flag", short).await.unwrap(),
            "on again",
            "older than the read's 100 ms ({stale_if_error:?})"
        );
        assert_eq!(p.provider().calls(), 3);
    }
}

#[tokio::test]
async fn shared_text_is_made_once_per_fetch_and_refused_like_text() {
    let clock = manual_clock();
    let p = parameters(&clock);
    let first = p.get_shared("/orders/flag").await.unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &first,
        &p.get_shared("/orders/flag").await.unwrap()
    ));
    p.provider().set("/orders/flag", "off");
    clock.advance(Duration::from_secs(6));
    let second = p.get_shared("/orders/flag").await.unwrap();
    assert_eq!((&*first, &*second), ("on", "off"));
    p.provider().set_binary("/orders/raw", vec![0xff, 0xfe]);
    let refused = p.get_shared("/orders/raw").await.unwrap_err();
    let as_text = p.get("/orders/raw").await.unwrap_err();
    assert_eq!(refused.to_string(), as_text.to_string());
    assert!(matches!(
        p.get_shared("/orders/none").await,
        Err(ParameterError::NotFound { .. })
    ));
}

/// A provider whose first call never answers (a hung backend), the next ones answer at once.
#[derive(Debug, Default)]
struct HangsOnce {
    calls: std::sync::atomic::AtomicUsize,
}

impl powertools_params::Provider for HangsOnce {
    fn get<'a>(
        &'a self,
        _name: &'a str,
    ) -> powertools_core::BoxFuture<'a, Result<powertools_params::RawValue, ParameterError>> {
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            if call == 0 {
                std::future::pending::<()>().await;
            }
            Ok(powertools_params::RawValue::Text(format!("call {call}")))
        })
    }
}

/// A fetch given up by its caller (a timeout around the read) lets the next caller fetch: the
/// name is not left locked, and the waiters do not wait for the abandoned call.
#[tokio::test]
async fn a_cancelled_fetch_does_not_hold_up_the_next() {
    let p = Parameters::builder(HangsOnce::default())
        .env(Env::from_lookup(|_| None))
        .build()
        .unwrap();
    let first = tokio::time::timeout(Duration::from_millis(50), p.get("/orders/flag")).await;
    assert!(first.is_err(), "the first call hangs: the read times out");
    let second = tokio::time::timeout(Duration::from_secs(5), p.get("/orders/flag")).await;
    assert_eq!(second.unwrap().unwrap(), "call 1");
    assert_eq!(p.get("/orders/flag").await.unwrap(), "call 1", "cached");
}
