//! The engine's behaviour, on the in-memory store (the same semantics as DynamoDB's, checked by
//! the conformance suite).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{NOW_MS, incompressible, nested};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use powertools_core::{Env, Invocation};
use powertools_idempotency::{
    BoxFuture, Idempotency, IdempotencyBuilder, IdempotencyError, InMemoryStore, PutOutcome,
    Record, Status, Store, StoreError,
};
use powertools_testing::ManualClock;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

/// A clock standing at [`NOW_MS`] until the test moves it.
fn manual_clock() -> ManualClock {
    ManualClock::at_epoch_millis(NOW_MS)
}

fn builder(store: Arc<InMemoryStore>, clock: &ManualClock) -> IdempotencyBuilder {
    Idempotency::builder(store)
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .event_key_jmespath("powertools_json(body)")
        .clock(clock.clock())
}

fn build(b: IdempotencyBuilder) -> Idempotency {
    b.build().expect("a valid configuration")
}

/// The record key of `payload` (which has one).
fn key_of(idem: &Idempotency, payload: &Value) -> String {
    idem.key_for(payload)
        .unwrap()
        .expect("the payload has a key")
}

/// A REST API request creating an order with the JSON `body`.
fn order(body: &str) -> Value {
    powertools_testing::events::api_gateway_rest("POST", "/orders")
        .header("content-type", "application/json")
        .body(body)
        .request_id("ignored by the key")
        .build()
}

async fn create(
    idem: &Idempotency,
    payload: &Value,
    runs: &AtomicUsize,
) -> Result<Value, IdempotencyError<String>> {
    idem.run(payload, || async {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        Ok::<_, String>(json!({"order_id": format!("o-{n}")}))
    })
    .await
}

#[tokio::test]
async fn a_typed_payload_shares_records_with_its_json_and_one_that_cannot_be_json_is_an_error() {
    #[derive(serde::Serialize)]
    struct Request<'a> {
        body: &'a str,
        #[serde(rename = "requestContext")]
        request_context: std::collections::BTreeMap<&'a str, &'a str>,
    }
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let runs = AtomicUsize::new(0);
    let typed = Request {
        body: r#"{"sku":"T","qty":2}"#,
        request_context: [("requestId", "typed")].into(),
    };
    let first: Value = idem
        .run_typed(&typed, || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(json!({"order_id": "o-typed"}))
        })
        .await
        .unwrap();
    // The same request as JSON replays what the typed call stored.
    let again = create(&idem, &order(r#"{"sku":"T","qty":2}"#), &runs)
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // A map with non-string keys has no JSON form: an error, and the handler does not run.
    let unkeyable: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let error = idem
        .run_typed(&unkeyable, || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(json!({}))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, IdempotencyError::Serialization(_)),
        "{error:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn runs_once_then_replays_the_stored_response() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let runs = AtomicUsize::new(0);
    let payload = order(r#"{"sku":"A","qty":1}"#);
    let first = create(&idem, &payload, &runs).await.ok();
    // Same key data, different envelope: still a duplicate.
    let mut again = payload.clone();
    again["requestContext"]["requestId"] = json!("another");
    let second = create(&idem, &again, &runs).await.ok();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(first, Some(json!({"order_id": "o-1"})));
    assert_eq!(second, first);
    // A different payload runs.
    let third = create(&idem, &order(r#"{"sku":"B","qty":1}"#), &runs)
        .await
        .ok();
    assert_eq!(third, Some(json!({"order_id": "o-2"})));
    assert_eq!(idem.key_prefix(), "orders-api.handler");
}

#[tokio::test]
async fn store_requests_per_call_are_two_one_and_zero_with_the_cache() {
    let store = Arc::new(InMemoryStore::new());
    let clock = manual_clock();
    let idem = build(builder(store.clone(), &clock));
    let runs = AtomicUsize::new(0);
    let payload = order(r#"{"sku":"A"}"#);
    let _ = create(&idem, &payload, &runs).await;
    assert_eq!(store.requests(), 2, "first call: claim + complete");
    let _ = create(&idem, &payload, &runs).await;
    assert_eq!(
        store.requests(),
        3,
        "replay: the refused claim brings the record back"
    );

    let cached = build(builder(store.clone(), &clock).local_cache(100, Duration::from_secs(60)));
    let _ = create(&cached, &payload, &runs).await; // 1 request, fills the cache
    let before = store.requests();
    let replayed = create(&cached, &payload, &runs).await.ok();
    assert_eq!(store.requests(), before, "cached replay: no request");
    assert_eq!(replayed, Some(json!({"order_id": "o-1"})));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_crashed_invocation_blocks_until_its_in_progress_expiry_then_runs_once() {
    let store = Arc::new(InMemoryStore::new());
    let clock = manual_clock();
    let idem = build(builder(store.clone(), &clock));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    // What an invocation that died mid-way leaves behind: INPROGRESS until its deadline.
    let left = Record {
        key,
        status: Status::InProgress,
        expiration: NOW_MS / 1_000 + 3_600,
        in_progress_expiration: Some(NOW_MS + 10_000),
        data: None,
        format: powertools_idempotency::RecordFormat::Python,
        validation: None,
    };
    assert_eq!(
        store.put_if_absent_or_expired(&left, NOW_MS).await.ok(),
        Some(PutOutcome::Claimed)
    );
    let runs = AtomicUsize::new(0);
    clock.advance(Duration::from_secs(5));
    assert!(matches!(
        create(&idem, &payload, &runs).await,
        Err(IdempotencyError::AlreadyInProgress { .. })
    ));
    clock.advance(Duration::from_secs(6));
    assert_eq!(
        create(&idem, &payload, &runs).await.ok(),
        Some(json!({"order_id": "o-1"}))
    );
    assert_eq!(
        create(&idem, &payload, &runs).await.ok(),
        Some(json!({"order_id": "o-1"}))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_in_progress_expiry_is_the_invocation_deadline() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let seen = Invocation::builder("r")
        .deadline_ms(NOW_MS + 42_000)
        .build()
        .scope(async {
            idem.run(&payload, || async {
                // What the store holds while the handler runs.
                let record = store.get(&key).await.unwrap();
                Ok::<_, String>(
                    record.map(|r| (r.status.as_str().to_owned(), r.in_progress_expiration)),
                )
            })
            .await
        })
        .await;
    assert_eq!(
        seen.unwrap(),
        Some(("INPROGRESS".to_owned(), Some(NOW_MS + 42_000)))
    );
}

#[tokio::test]
async fn a_handler_error_deletes_the_record_so_a_retry_runs() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let failed: Result<Value, _> = idem
        .run(&payload, || async {
            Err::<Value, _>("payment declined".to_owned())
        })
        .await;
    assert!(matches!(failed, Err(IdempotencyError::Handler(ref m)) if m == "payment declined"));
    let key = key_of(&idem, &payload);
    assert_eq!(store.get(&key).await.unwrap(), None);
    let runs = AtomicUsize::new(0);
    assert!(create(&idem, &payload, &runs).await.is_ok());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_panicking_handler_deletes_the_record_and_the_panic_goes_on() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let run = idem.run(&payload, || async {
        #[allow(clippy::panic)] // the handler under test panics
        std::panic::panic_any("payment service exploded");
        #[allow(unreachable_code)]
        Ok::<Value, String>(json!({}))
    });
    let caught = powertools_core::catch_panic(|| run).await;
    assert_eq!(
        caught.err().map(|p| p.message().to_owned()),
        Some("payment service exploded".to_owned()),
        "the panic reaches the caller"
    );
    // No record is left in progress: a retry runs the handler at once.
    let key = key_of(&idem, &payload);
    assert_eq!(store.get(&key).await.unwrap(), None);
    let runs = AtomicUsize::new(0);
    assert!(create(&idem, &payload, &runs).await.is_ok());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_expired_record_runs_again() {
    let store = Arc::new(InMemoryStore::new());
    let clock = manual_clock();
    let idem = build(builder(store, &clock).expires_after(Duration::from_secs(60)));
    let runs = AtomicUsize::new(0);
    let payload = order(r#"{"sku":"A"}"#);
    let _ = create(&idem, &payload, &runs).await;
    clock.advance(Duration::from_secs(59));
    let _ = create(&idem, &payload, &runs).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        create(&idem, &payload, &runs).await.ok(),
        Some(json!({"order_id": "o-2"}))
    );
}

#[derive(Debug)]
struct FailingStore;

impl Store for FailingStore {
    fn put_if_absent_or_expired<'a>(
        &'a self,
        _: &'a Record,
        _: u64,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        Box::pin(async {
            Err(StoreError::Backend(
                "ProvisionedThroughputExceededException: throttled".into(),
            ))
        })
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async { Err(StoreError::Backend("unreachable".into())) })
    }
    fn update<'a>(&'a self, _: &'a Record) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("unreachable".into())) })
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Backend("unreachable".into())) })
    }
}

#[tokio::test]
async fn a_failing_store_is_a_clear_error_and_the_handler_does_not_run() {
    let idem = build(Idempotency::builder(FailingStore).env(Env::from_lookup(|_| None)));
    let runs = AtomicUsize::new(0);
    let result = create(&idem, &json!({"any": 1}), &runs).await;
    let message = result.as_ref().expect_err("the store failed").to_string();
    assert!(matches!(result, Err(IdempotencyError::Persistence { .. })));
    assert!(
        message.contains("the handler did not run") && message.contains("throttled"),
        "{message}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn payload_validation_refuses_a_changed_payload() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(
        builder(store, &manual_clock())
            .event_key_jmespath("powertools_json(body).order_id")
            .payload_validation_jmespath("powertools_json(body).amount"),
    );
    let runs = AtomicUsize::new(0);
    assert!(
        create(&idem, &order(r#"{"order_id":"o-9","amount":10}"#), &runs)
            .await
            .is_ok()
    );
    assert!(
        create(&idem, &order(r#"{"order_id":"o-9","amount":10}"#), &runs)
            .await
            .is_ok()
    );
    let changed = create(&idem, &order(r#"{"order_id":"o-9","amount":99}"#), &runs).await;
    assert!(
        matches!(changed, Err(IdempotencyError::Validation { .. })),
        "{changed:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_missing_key_runs_without_idempotency_or_fails_when_asked() {
    let store = Arc::new(InMemoryStore::new());
    let clock = manual_clock();
    let lenient = build(builder(store.clone(), &clock).event_key_jmespath("detail.order_id"));
    let runs = AtomicUsize::new(0);
    let _ = create(&lenient, &json!({"detail": {}}), &runs).await;
    let _ = create(&lenient, &json!({"detail": {}}), &runs).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2, "no key: no idempotency");
    let strict = build(
        builder(store, &clock)
            .event_key_jmespath("detail.order_id")
            .raise_on_no_idempotency_key(true),
    );
    let result = create(&strict, &json!({"detail": {}}), &runs).await;
    assert!(
        matches!(result, Err(IdempotencyError::KeyMissing { ref path }) if path == "detail.order_id")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_key_that_cannot_be_evaluated_counts_as_missing() {
    let store = Arc::new(InMemoryStore::new());
    let clock = manual_clock();
    let lenient = build(builder(store.clone(), &clock));
    let runs = AtomicUsize::new(0);
    // powertools_json(body) on a body that is not JSON: the handler runs and answers.
    assert!(create(&lenient, &order("{\"sku\": "), &runs).await.is_ok());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let strict = build(builder(store, &clock).raise_on_no_idempotency_key(true));
    assert!(matches!(
        create(&strict, &order("not json"), &runs).await,
        Err(IdempotencyError::KeyMissing { .. })
    ));
}

#[tokio::test]
async fn disabled_by_environment_runs_every_time() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(Idempotency::builder(store.clone()).env(Env::from_pairs([(
        "POWERTOOLS_IDEMPOTENCY_DISABLED",
        "true",
    )])));
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        let _ = create(&idem, &json!({"a": 1}), &runs).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(store.requests(), 0);
}

#[tokio::test]
async fn the_replay_hook_sees_each_replay() {
    let store = Arc::new(InMemoryStore::new());
    let replays = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&replays);
    let idem = build(builder(store, &manual_clock()).on_replay(move |record| {
        assert_eq!(record.status, Status::Completed);
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        let _ = create(&idem, &order(r#"{"sku":"A"}"#), &runs).await;
    }
    assert_eq!(replays.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_stored_response_of_another_type_is_a_serialization_error() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store, &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let _: Result<Value, IdempotencyError<String>> =
        idem.run(&payload, || async { Ok(json!("text")) }).await;
    let typed: Result<u32, IdempotencyError<String>> =
        idem.run(&payload, || async { Ok(1u32) }).await;
    assert!(
        matches!(typed, Err(IdempotencyError::Serialization(_))),
        "{typed:?}"
    );
}

#[tokio::test]
async fn the_layer_replays_and_reports_stable_error_types() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let runs = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (counter, call_counter) = (Arc::clone(&runs), Arc::clone(&calls));
    let service = idem
        .layer()
        .layer(service_fn(move |event: LambdaEvent<Value>| {
            // The service is called for every invocation; its body runs only when polled.
            call_counter.fetch_add(1, Ordering::SeqCst);
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, lambda_runtime::Error>(
                    json!({"statusCode": 201, "echo": event.payload["body"]}),
                )
            }
        }));
    let event = |id: &str| powertools_testing::test_event(id, order(r#"{"sku":"A"}"#));
    let first = service.clone().oneshot(event("r1")).await.ok();
    let second = service.clone().oneshot(event("r2")).await.ok();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the handler was called twice"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "its body ran once: replayed"
    );
    assert_eq!(first, second);

    // An in-progress duplicate maps to the stable Lambda errorType.
    let key = key_of(&idem, &order(r#"{"sku":"Z"}"#));
    let _ = store
        .put_if_absent_or_expired(&common::claim(&key, NOW_MS, 60_000), NOW_MS)
        .await;
    let busy = service
        .oneshot(powertools_testing::test_event(
            "r3",
            order(r#"{"sku":"Z"}"#),
        ))
        .await;
    let diagnostic = busy.err().map(Diagnostic::from);
    assert_eq!(
        diagnostic.map(|d| d.error_type),
        Some("IdempotencyAlreadyInProgressError".to_owned())
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the refused duplicate did not run the body"
    );
}

/// A handler that panics under the layer: its claim is deleted before the panic goes on
/// through the invocation layer, so a retry runs the handler at once.
#[tokio::test]
async fn a_panicking_handler_under_the_layer_deletes_the_record_and_the_panic_goes_on() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let explode = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let (should_explode, counter) = (Arc::clone(&explode), Arc::clone(&runs));
    let service = idem.layer().layer(service_fn(move |_: LambdaEvent<Value>| {
        let should_explode = should_explode.load(Ordering::SeqCst);
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            if should_explode {
                std::panic::panic_any("payment service exploded");
            }
            Ok::<_, lambda_runtime::Error>(json!({"statusCode": 201}))
        }
    }));
    let payload = order(r#"{"sku":"A"}"#);
    let event = |id: &str| powertools_testing::test_event(id, payload.clone());
    let caught = powertools_core::catch_panic(|| service.clone().oneshot(event("r1"))).await;
    assert_eq!(
        caught.err().map(|p| p.message().to_owned()),
        Some("payment service exploded".to_owned()),
        "the panic reaches the caller"
    );
    let key = key_of(&idem, &payload);
    assert_eq!(store.get(&key).await.unwrap(), None, "no record left");
    explode.store(false, Ordering::SeqCst);
    let retried = service.oneshot(event("r2")).await.unwrap();
    assert_eq!(retried, json!({"statusCode": 201}));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the retry ran the handler");
}

#[tokio::test]
async fn a_typed_key_function_selects_the_key() {
    #[derive(serde::Deserialize)]
    struct Payment {
        payment_id: String,
    }
    let store = Arc::new(InMemoryStore::new());
    let idem = build(
        builder(store, &manual_clock()).event_key_fn(|p: &Payment| Some(p.payment_id.clone())),
    );
    let runs = AtomicUsize::new(0);
    let _ = create(&idem, &json!({"payment_id": "p-1", "amount": 10}), &runs).await;
    let _ = create(&idem, &json!({"payment_id": "p-1", "amount": 99}), &runs).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "same payment id: a duplicate"
    );
    let _ = create(&idem, &json!({"payment_id": "p-2"}), &runs).await;
    let _ = create(&idem, &json!({"not": "a payment"}), &runs).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "another id runs; a payload without a key runs too"
    );
    // The key is the hash of what the function returned.
    let expected = format!(
        "orders-api.handler#{}",
        powertools_idempotency::HashMode::Python.hash(&json!("p-1"))
    );
    assert_eq!(
        idem.key_for(&json!({"payment_id": "p-1"})).unwrap(),
        Some(expected)
    );
}

#[test]
fn invalid_configuration_is_refused() {
    let store = InMemoryStore::new();
    assert!(
        Idempotency::builder(store)
            .event_key_jmespath("a.[")
            .build()
            .is_err()
    );
    assert!(
        Idempotency::builder(InMemoryStore::new())
            .key_prefix("  ")
            .build()
            .is_err()
    );
    assert!(
        Idempotency::builder(InMemoryStore::new())
            .expires_after(Duration::ZERO)
            .build()
            .is_err()
    );
}

/// The layer alone (no invocation layer around it) still records the invocation's deadline as
/// the in-progress expiry, so a crashed invocation does not block its key until expiry.
#[tokio::test]
async fn the_layer_alone_records_the_deadline_as_the_in_progress_expiry() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let seen_store = Arc::clone(&store);
    let service = idem
        .layer()
        .layer(service_fn(move |_event: LambdaEvent<Value>| {
            let store = Arc::clone(&seen_store);
            let key = key.clone();
            async move {
                let record = store.get(&key).await.unwrap();
                Ok::<_, lambda_runtime::Error>(json!({
                    "status": record.as_ref().map(|r| r.status.as_str()),
                    "in_progress_expiration": record.and_then(|r| r.in_progress_expiration),
                    "scope_deadline": Invocation::current().map(|i| i.deadline_ms()),
                }))
            }
        }));
    let mut event = powertools_testing::test_event("r-alone", payload);
    event.context.deadline = NOW_MS + 42_000;
    let seen = service.oneshot(event).await.ok();
    assert_eq!(
        seen,
        Some(json!({
            "status": "INPROGRESS",
            "in_progress_expiration": NOW_MS + 42_000,
            "scope_deadline": NOW_MS + 42_000,
        }))
    );
}

/// Which selected values count as "no key", as Powertools for Python's
/// `is_missing_idempotency_key` decides: null, an empty string, an empty object, and a list that
/// is empty or all null are missing; numbers and booleans never are; a non-empty object never
/// is (Python iterates its keys).
#[test]
fn missing_keys_follow_powertools_for_python() {
    let idem = build(
        Idempotency::builder(InMemoryStore::new())
            .env(Env::from_lookup(|_| None))
            .event_key_jmespath("k"),
    );
    let cases = [
        (json!({}), true),
        (json!({"k": null}), true),
        (json!({"k": ""}), true),
        (json!({"k": {}}), true),
        (json!({"k": []}), true),
        (json!({"k": [null]}), true),
        (json!({"k": [null, null]}), true),
        (json!({"k": 0}), false),
        (json!({"k": 0.0}), false),
        (json!({"k": -1}), false),
        (json!({"k": false}), false),
        (json!({"k": true}), false),
        (json!({"k": "a"}), false),
        (json!({"k": " "}), false),
        (json!({"k": {"a": null}}), false),
        (json!({"k": {"a": 1}}), false),
        (json!({"k": [null, 1]}), false),
        (json!({"k": [""]}), false),
        (json!({"k": [false]}), false),
        (json!({"k": [[]]}), false),
        (json!({"k": [{}]}), false),
    ];
    for (payload, missing) in cases {
        let key = idem.key_for(&payload);
        assert!(key.is_ok(), "{payload}: {key:?}");
        assert_eq!(
            key.unwrap().is_none(),
            missing,
            "{payload}: missing should be {missing}"
        );
    }
}

/// Two tenants sending the same payload to one table each get their own response; the same
/// tenant again is a duplicate.
#[tokio::test]
async fn keys_are_scoped_by_tenant() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let service = idem
        .layer()
        .layer(service_fn(move |_event: LambdaEvent<Value>| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let tenant = Invocation::current().and_then(|i| i.tenant_id().map(str::to_owned));
                Ok::<_, lambda_runtime::Error>(json!({"statement_for": tenant}))
            }
        }));
    let event = |request_id: &str, tenant: &str| {
        let mut event = powertools_testing::test_event(request_id, order(r#"{"sku":"A"}"#));
        event.context.tenant_id = Some(tenant.to_owned());
        event
    };
    let a = service.clone().oneshot(event("r1", "tenant-a")).await.ok();
    let b = service.clone().oneshot(event("r2", "tenant-b")).await.ok();
    assert_eq!(a, Some(json!({"statement_for": "tenant-a"})));
    assert_eq!(b, Some(json!({"statement_for": "tenant-b"})));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one run per tenant");
    let a_again = service.clone().oneshot(event("r3", "tenant-a")).await.ok();
    assert_eq!(a_again, Some(json!({"statement_for": "tenant-a"})));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the same tenant replays");

    // The record key: `<prefix>#<tenant id>#<hash>`.
    let payload = order(r#"{"sku":"A"}"#);
    let hash = powertools_idempotency::HashMode::Python.hash(&json!({"sku": "A"}));
    let scoped = Invocation::builder("r4")
        .tenant_id("tenant-a")
        .build()
        .sync_scope(|| idem.key_for(&payload));
    assert_eq!(
        scoped.unwrap(),
        Some(format!("orders-api.handler#tenant-a#{hash}"))
    );
    assert_eq!(
        idem.key_for(&payload).unwrap(),
        Some(format!("orders-api.handler#{hash}"))
    );
    assert!(
        store
            .get(&format!("orders-api.handler#tenant-b#{hash}"))
            .await
            .ok()
            .flatten()
            .is_some()
    );
}

/// In the last second before a record expires, a duplicate is replayed (the store and the
/// client agree on whole seconds); from the next second on it runs again.
#[tokio::test]
async fn a_record_is_replayed_through_its_last_second_then_runs_again() {
    let store = Arc::new(InMemoryStore::new());
    let clock = manual_clock();
    clock.advance(Duration::from_millis(250)); // not on a whole second
    let idem = build(builder(store, &clock).expires_after(Duration::from_secs(60)));
    let runs = AtomicUsize::new(0);
    let payload = order(r#"{"sku":"A"}"#);
    assert!(create(&idem, &payload, &runs).await.is_ok());
    let expiration = (NOW_MS + 250) / 1_000 + 60;
    clock.set_epoch_millis(expiration * 1_000 + 500);
    assert_eq!(
        create(&idem, &payload, &runs).await.ok(),
        Some(json!({"order_id": "o-1"})),
        "replayed in the last second"
    );
    clock.set_epoch_millis((expiration + 1) * 1_000);
    assert_eq!(
        create(&idem, &payload, &runs).await.ok(),
        Some(json!({"order_id": "o-2"})),
        "runs again once expired"
    );
}

async fn run_value(
    idem: &Idempotency,
    payload: &Value,
    runs: &AtomicUsize,
    response: &Value,
) -> Result<Value, IdempotencyError<String>> {
    idem.run(payload, || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(response.clone())
    })
    .await
}

/// A response nested deeper than serde_json reads back (128) is returned to its caller and not
/// stored; a duplicate runs the handler again instead of failing on replay.
#[tokio::test]
async fn a_response_too_deep_to_replay_is_returned_and_a_duplicate_runs_again() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let deep = nested(200);
    let runs = AtomicUsize::new(0);
    let first = run_value(&idem, &payload, &runs, &deep).await;
    assert_eq!(first.ok().as_ref(), Some(&deep));
    assert_eq!(store.get(&key).await.unwrap(), None, "not stored");
    let second = run_value(&idem, &payload, &runs, &deep).await;
    assert_eq!(second.ok().as_ref(), Some(&deep));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the duplicate ran again");
    // 100 levels read back: stored and replayed.
    let shallow = nested(100);
    let other = order(r#"{"sku":"B"}"#);
    let _ = run_value(&idem, &other, &runs, &shallow).await;
    assert_eq!(
        run_value(&idem, &other, &runs, &json!(0)).await.ok(),
        Some(shallow)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

/// A response over the stored size limit is stored compressed when that fits, and replayed.
#[tokio::test]
async fn a_large_response_is_stored_compressed_and_replayed() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let large = json!({"lines": vec!["the same order line, again and again"; 15_000]});
    assert!(large.to_string().len() > 500_000);
    let runs = AtomicUsize::new(0);
    assert_eq!(
        run_value(&idem, &payload, &runs, &large)
            .await
            .ok()
            .as_ref(),
        Some(&large)
    );
    let stored = store
        .get(&key)
        .await
        .unwrap()
        .and_then(|r| r.data)
        .expect("a stored response");
    assert!(
        stored.starts_with("gzip+base64:"),
        "{}",
        &stored[..stored.len().min(40)]
    );
    assert!(stored.len() < 400 * 1024, "{} bytes stored", stored.len());
    assert_eq!(
        run_value(&idem, &payload, &runs, &json!(0)).await.ok(),
        Some(large)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "replayed");
    // Small responses are stored as plain JSON (readable by Powertools for Python).
    let small = order(r#"{"sku":"B"}"#);
    let _ = run_value(&idem, &small, &runs, &json!({"ok": true})).await;
    let small_key = key_of(&idem, &small);
    assert_eq!(
        store
            .get(&small_key)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.data),
        Some(r#"{"ok":true}"#.to_owned())
    );
}

/// A response that does not fit even compressed is returned to its caller, not stored; the
/// record is removed so a duplicate runs again (never an error, never a blocked key).
#[tokio::test]
async fn a_response_that_does_not_fit_is_returned_and_a_duplicate_runs_again() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()).max_stored_response_bytes(4_096));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let big = json!(incompressible(20_000));
    let runs = AtomicUsize::new(0);
    assert_eq!(
        run_value(&idem, &payload, &runs, &big).await.ok().as_ref(),
        Some(&big)
    );
    assert_eq!(store.get(&key).await.unwrap(), None, "not stored");
    assert_eq!(
        run_value(&idem, &payload, &runs, &big).await.ok().as_ref(),
        Some(&big)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // Compressible, the same size fits.
    let other = order(r#"{"sku":"B"}"#);
    let repeated = json!("a".repeat(20_000));
    let _ = run_value(&idem, &other, &runs, &repeated).await;
    assert_eq!(
        run_value(&idem, &other, &runs, &json!(0)).await.ok(),
        Some(repeated)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

/// A compressed record that is corrupt, or inflates beyond 64 MiB (written by someone else),
/// is a serialization error on replay: never a panic, never unbounded memory.
#[tokio::test]
async fn a_corrupt_or_oversized_compressed_record_is_a_serialization_error() {
    use base64::Engine as _;
    use std::io::Write as _;

    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // A valid JSON string of 65 MiB: it would replay, were the inflated size not bounded.
    let letters = vec![b'a'; 1024 * 1024];
    let _ = bomb.write_all(b"\"");
    for _ in 0..65 {
        let _ = bomb.write_all(&letters);
    }
    let _ = bomb.write_all(b"\"");
    let bomb = bomb.finish().unwrap();
    let bomb = format!(
        "gzip+base64:{}",
        base64::engine::general_purpose::STANDARD.encode(bomb)
    );
    for data in [
        "gzip+base64:not base64!".to_owned(),
        "gzip+base64:aGVsbG8=".to_owned(),
        bomb,
    ] {
        let planted = Record {
            key: key.clone(),
            status: Status::Completed,
            expiration: NOW_MS / 1_000 + 3_600,
            in_progress_expiration: None,
            data: Some(data),
            format: powertools_idempotency::RecordFormat::Python,
            validation: None,
        };
        let _ = store.update(&planted).await;
        let runs = AtomicUsize::new(0);
        let replayed = create(&idem, &payload, &runs).await;
        assert!(
            matches!(replayed, Err(IdempotencyError::Serialization(_))),
            "replayed {:?} bytes",
            replayed.map(|v| v.to_string().len())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }
}

/// A quote whose price may be NaN: serde_json writes NaN as `null`, which no `f64` reads.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Quote {
    sku: String,
    price: f64,
}

/// A response that does not read back as the handler's output type (here a NaN written as
/// `null`) is returned to its caller and not stored, so a duplicate runs the handler again
/// instead of getting `IdempotencySerializationError` until the record expires.
#[tokio::test]
async fn a_response_that_does_not_read_back_as_its_type_is_returned_and_a_duplicate_runs_again() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    let runs = AtomicUsize::new(0);
    let quote = |price: f64| {
        let runs = &runs;
        let idem = &idem;
        let payload = &payload;
        async move {
            idem.run(payload, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(Quote {
                    sku: "A".to_owned(),
                    price,
                })
            })
            .await
        }
    };
    let first = quote(f64::NAN).await;
    assert!(
        first
            .as_ref()
            .is_ok_and(|q| q.sku == "A" && q.price.is_nan()),
        "{first:?}"
    );
    assert_eq!(store.get(&key).await.unwrap(), None, "not stored");
    let second = quote(f64::NAN).await;
    assert!(
        second.as_ref().is_ok_and(|q| q.price.is_nan()),
        "{second:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the duplicate ran again");
    // A price that reads back is stored and replayed.
    let other = order(r#"{"sku":"B"}"#);
    let stored = idem
        .run(&other, || async {
            Ok::<_, String>(Quote {
                sku: "B".to_owned(),
                price: 9.5,
            })
        })
        .await;
    assert!(stored.is_ok_and(|q| q.price == 9.5));
    let replayed = idem
        .run(&other, || async {
            Ok::<_, String>(Quote {
                sku: "B".to_owned(),
                price: 0.0,
            })
        })
        .await;
    assert!(replayed.is_ok_and(|q| q.price == 9.5), "replayed");
}

/// The in-memory store, except that the calls made after the handler ran may never answer
/// (a blackholed connection without an operation timeout).
#[derive(Debug)]
struct Blackholed {
    store: Arc<InMemoryStore>,
    update_hangs: bool,
    delete_hangs: bool,
}

impl Store for Blackholed {
    fn put_if_absent_or_expired<'a>(
        &'a self,
        record: &'a Record,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        self.store.put_if_absent_or_expired(record, now_ms)
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        self.store.get(key)
    }
    fn update<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Result<(), StoreError>> {
        if self.update_hangs {
            Box::pin(std::future::pending())
        } else {
            self.store.update(record)
        }
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        if self.delete_hangs {
            Box::pin(std::future::pending())
        } else {
            self.store.delete(key)
        }
    }
}

/// A store that stops answering after the claim cannot run the invocation into Lambda's
/// timeout: saving the response and deleting the record are bounded by the invocation's
/// remaining time (less a margin), and a call that does not answer in time counts as a failed
/// one. The caller gets the handler's outcome.
#[tokio::test]
async fn a_store_that_never_answers_after_the_claim_still_returns_the_handlers_outcome() {
    let clock = manual_clock();
    for (update_hangs, delete_hangs, handler_fails) in [
        (true, false, false),
        (true, true, false),
        (false, true, true),
    ] {
        let memory = Arc::new(InMemoryStore::new());
        let store = Blackholed {
            store: memory.clone(),
            update_hangs,
            delete_hangs,
        };
        let idem = build(
            Idempotency::builder(store)
                .env(Env::from_lookup(|_| None))
                .event_key_jmespath("powertools_json(body)")
                .clock(clock.clock()),
        );
        let payload = order(r#"{"sku":"A"}"#);
        let key = key_of(&idem, &payload);
        let runs = AtomicUsize::new(0);
        // 600 ms left: the store calls after the handler get 100 ms.
        let invocation = Invocation::builder("r").deadline_ms(NOW_MS + 600).build();
        let call = invocation.scope(idem.run(&payload, || async {
            runs.fetch_add(1, Ordering::SeqCst);
            if handler_fails {
                Err("card declined".to_owned())
            } else {
                Ok(json!({"order_id": "o-1"}))
            }
        }));
        // A guard against a hang (the test fails instead of never ending), not a timing check.
        let outcome = tokio::time::timeout(Duration::from_secs(10), call).await;
        let case = (update_hangs, delete_hangs, handler_fails);
        match outcome {
            Ok(Ok(response)) if !handler_fails => {
                assert_eq!(response, json!({"order_id": "o-1"}), "{case:?}")
            }
            Ok(Err(IdempotencyError::Handler(error))) if handler_fails => {
                assert_eq!(error, "card declined", "{case:?}")
            }
            other => panic!("{case:?}: {other:?}"),
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let left = memory.get(&key).await.unwrap();
        if delete_hangs {
            // Not deleted: the claim stays until its in-progress expiry, the deadline.
            assert_eq!(
                left.map(|r| (r.status, r.in_progress_expiration)),
                Some((Status::InProgress, Some(NOW_MS + 600))),
                "{case:?}"
            );
        } else {
            // The save timed out and the record was removed: a duplicate runs again.
            assert_eq!(left, None, "{case:?}");
        }
    }
}

/// A local cache TTL of any length is accepted (clamped to the record expiry and to a
/// century; past what the clock holds it would be for ever), and the cache still replays
/// without a store request.
#[tokio::test]
async fn a_local_cache_ttl_of_any_length_builds_and_replays() {
    let thousand_years = Duration::from_secs(1_001 * 365 * 24 * 3_600);
    for (ttl, expires_after) in [
        (Duration::MAX, Duration::from_secs(3_600)),
        (Duration::MAX, Duration::MAX),
        (thousand_years, thousand_years),
        (Duration::from_secs(u64::MAX), Duration::from_secs(60)),
    ] {
        let store = Arc::new(InMemoryStore::new());
        let built = builder(store.clone(), &manual_clock())
            .expires_after(expires_after)
            .local_cache(100, ttl)
            .build();
        let cached = built.unwrap_or_else(|e| panic!("{ttl:?}, {expires_after:?}: {e}"));
        let runs = AtomicUsize::new(0);
        let payload = order(r#"{"sku":"A"}"#);
        let _ = create(&cached, &payload, &runs).await;
        let before = store.requests();
        let replayed = create(&cached, &payload, &runs).await.ok();
        assert_eq!(store.requests(), before, "cached replay: no request");
        assert_eq!(replayed, Some(json!({"order_id": "o-1"})));
    }
}

proptest::proptest! {
    /// Any cache capacity, TTL and record expiry builds (or is refused with a ConfigError):
    /// never a panic.
    #[test]
    fn any_local_cache_configuration_builds(
        capacity in proptest::num::u64::ANY,
        ttl_secs in proptest::num::u64::ANY,
        ttl_nanos in 0u32..1_000_000_000,
        expiry_secs in proptest::num::u64::ANY,
    ) {
        let built = Idempotency::builder(InMemoryStore::new())
            .env(Env::from_lookup(|_| None))
            .expires_after(Duration::from_secs(expiry_secs))
            .local_cache(capacity, Duration::new(ttl_secs, ttl_nanos))
            .build();
        proptest::prop_assert_eq!(built.is_ok(), expiry_secs > 0);
    }
}

/// A response type whose field is a number.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Card {
    pin: u32,
}

/// A stored response that is not the handler's output type is described by the kind and
/// position of the failure, never by serde's message, which quotes the stored data (a response
/// may hold what must not reach logs or the Lambda `errorMessage`).
#[tokio::test]
async fn a_stored_response_that_does_not_fit_is_described_without_its_content() {
    let store = Arc::new(InMemoryStore::new());
    let idem = build(builder(store.clone(), &manual_clock()));
    let payload = order(r#"{"sku":"A"}"#);
    let key = key_of(&idem, &payload);
    for data in [r#"{"pin":"card-4711-secret"}"#, r#"{"card-4711-secret":1}"#] {
        let planted = Record {
            key: key.clone(),
            status: Status::Completed,
            expiration: NOW_MS / 1_000 + 3_600,
            in_progress_expiration: None,
            data: Some(data.to_owned()),
            format: powertools_idempotency::RecordFormat::Python,
            validation: None,
        };
        let _ = store.update(&planted).await;
        let replayed = idem
            .run(&payload, || async { Ok::<_, String>(Card { pin: 1 }) })
            .await;
        let shown = match &replayed {
            Err(error @ IdempotencyError::Serialization(_)) => format!("{error} {error:?}"),
            other => panic!("{data}: {other:?}"),
        };
        assert!(!shown.contains("card-4711-secret"), "{shown}");
        assert!(shown.contains("line 1, column"), "{shown}");
    }
}

/// In Powertools for TypeScript's record format a response goes through native values; one
/// that would not read back (an integer past u64) is not stored, so a duplicate runs again
/// instead of failing on a record it cannot read, and the key is never blocked.
#[tokio::test]
async fn a_response_native_values_cannot_hold_is_not_stored_in_the_typescript_format() {
    let store = Arc::new(InMemoryStore::new());
    let idempotency = Idempotency::builder(Arc::clone(&store))
        .typescript_compatible()
        .build()
        .unwrap();
    let runs = AtomicUsize::new(0);
    let big: u128 = u128::from(u64::MAX) + 2;
    for _ in 0..2 {
        let response: u128 = idempotency
            .run(&json!({"order": "o-big"}), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(big)
            })
            .await
            .unwrap();
        assert_eq!(response, big);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "never stored, never replayed wrong"
    );

    let small = idempotency
        .run(&json!({"order": "o-small"}), || async {
            Ok::<_, String>(json!({"n": 1.5}))
        })
        .await
        .unwrap();
    let replayed = idempotency
        .run(&json!({"order": "o-small"}), || async {
            Ok::<_, String>(json!(null))
        })
        .await
        .unwrap();
    assert_eq!(replayed, small);
}
