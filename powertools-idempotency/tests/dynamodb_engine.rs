//! The engine over DynamoDB Local: concurrency, request counts, an unreachable store, and
//! replaying a record written the way Powertools for Python writes it.
#![cfg(feature = "dynamodb")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use powertools_core::Env;
use powertools_idempotency::{DynamoDbStore, Idempotency, IdempotencyError};
use powertools_testing::ManualClock;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Counts the requests a client sends.
#[derive(Debug, Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn sdk_config() -> Result<aws_config::SdkConfig, powertools_testing::HarnessError> {
    powertools_testing::dynamodb::local_sdk_config().await
}

async fn table(
    name: &str,
) -> Result<(aws_sdk_dynamodb::Client, Counter), Box<dyn std::error::Error>> {
    let config = sdk_config().await?;
    let counter = Counter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    powertools_testing::dynamodb::create_table(&client, name, "id", None).await?;
    counter.0.store(0, Ordering::SeqCst);
    Ok((client, counter))
}

fn idempotency(client: &aws_sdk_dynamodb::Client, table: &str) -> Idempotency {
    Idempotency::builder(DynamoDbStore::builder(client.clone(), table).build())
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .event_key_jmespath("powertools_json(body)")
        .build()
        .expect("a valid configuration")
}

#[tokio::test]
async fn requests_per_call_are_two_then_one_then_zero_cached() -> TestResult {
    let name = powertools_testing::unique_name("idem-requests");
    let (client, counter) = table(&name).await?;
    let idem = idempotency(&client, &name);
    let payload = json!({"body": "{\"sku\":\"A\"}"});
    let runs = AtomicUsize::new(0);
    let call = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(json!({"order_id": "o-1"}))
    };
    idem.run(&payload, call).await?;
    assert_eq!(
        counter.0.swap(0, Ordering::SeqCst),
        2,
        "first call: PutItem + UpdateItem"
    );
    assert_eq!(idem.run(&payload, call).await?, json!({"order_id": "o-1"}));
    assert_eq!(
        counter.0.swap(0, Ordering::SeqCst),
        1,
        "replay: the refused PutItem returns the old item"
    );
    let cached = Idempotency::builder(DynamoDbStore::builder(client.clone(), &name).build())
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .event_key_jmespath("powertools_json(body)")
        .local_cache(16, Duration::from_secs(60))
        .build()?;
    cached.run(&payload, call).await?;
    counter.0.store(0, Ordering::SeqCst);
    assert_eq!(
        cached.run(&payload, call).await?,
        json!({"order_id": "o-1"})
    );
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        0,
        "cached replay: no request"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    client.delete_table().table_name(&name).send().await?;
    Ok(())
}

#[tokio::test]
async fn an_unreachable_store_fails_clearly_and_the_handler_does_not_run() -> TestResult {
    let config = sdk_config().await?;
    // Nothing listens on port 9 of the loopback address.
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    );
    let idem = idempotency(&client, "any");
    let runs = AtomicUsize::new(0);
    let result = idem
        .run(&json!({"body": "{\"sku\":\"A\"}"}), || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(json!(1))
        })
        .await;
    assert!(
        matches!(result, Err(IdempotencyError::Persistence { .. })),
        "{result:?}"
    );
    assert_eq!(
        result.err().and_then(|e| e.error_type()),
        Some("IdempotencyPersistenceLayerError")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    Ok(())
}

/// A record exactly as Powertools for Python writes it (key from the shared test vectors) is
/// replayed by this library without running the handler.
#[tokio::test]
async fn replays_a_record_written_by_powertools_for_python() -> TestResult {
    let name = powertools_testing::unique_name("idem-python");
    let (client, _) = table(&name).await?;
    let vectors: Vec<Value> = serde_json::from_str(include_str!("vectors/vectors.json"))?;
    // {"user": "xyz", "product_id": "123456789"}: Python's md5 of json.dumps(sort_keys=True).
    let vector = &vectors[0];
    let prefix = "orders-api.app.lambda_handler";
    let python_key = format!("{prefix}#{}", vector["md5_hex"].as_str().expect("md5_hex"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    client
        .put_item()
        .table_name(&name)
        .item("id", AttributeValue::S(python_key))
        .item("status", AttributeValue::S("COMPLETED".into()))
        .item("expiration", AttributeValue::N((now + 3_600).to_string()))
        .item(
            "data",
            AttributeValue::S("{\"statusCode\": 201, \"body\": \"created by python\"}".into()),
        )
        .send()
        .await?;
    let idem = Idempotency::builder(DynamoDbStore::builder(client.clone(), &name).build())
        .env(Env::from_lookup(|_| None))
        .key_prefix(prefix)
        .event_key_jmespath("powertools_json(body)")
        .build()?;
    let payload = json!({"body": vector["payload"]});
    let response: Value = idem
        .run(&payload, || async {
            Err::<Value, String>("the handler must not run".into())
        })
        .await?;
    assert_eq!(
        response,
        json!({"statusCode": 201, "body": "created by python"})
    );
    client.delete_table().table_name(&name).send().await?;
    Ok(())
}

/// The lifecycle over DynamoDB Local with an injected clock: a crashed invocation's record
/// blocks until its in-progress expiry, a handler error deletes the record, an expired record
/// runs again, a changed payload is refused.
#[tokio::test]
async fn crash_error_expiry_and_validation_over_dynamodb() -> TestResult {
    use powertools_idempotency::{Record, Status, Store};

    let name = powertools_testing::unique_name("idem-lifecycle");
    let (client, _) = table(&name).await?;
    let now = ManualClock::at(SystemTime::now());
    let start = now.epoch_millis();
    let store = DynamoDbStore::builder(client.clone(), &name).build();
    let idem = Idempotency::builder(store.clone())
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .event_key_jmespath("powertools_json(body).order_id")
        .payload_validation_jmespath("powertools_json(body).amount")
        .expires_after(Duration::from_secs(60))
        .clock(now.clock())
        .build()?;
    let payload =
        |amount: u32| json!({"body": format!("{{\"order_id\":\"o-7\",\"amount\":{amount}}}")});
    let runs = AtomicUsize::new(0);
    let run = |payload: Value| {
        let runs = &runs;
        let idem = &idem;
        async move {
            idem.run(&payload, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(json!({"charged": true}))
            })
            .await
        }
    };

    // An invocation died mid-way: its record is INPROGRESS until its deadline (10 s).
    let key = idem.key_for(&payload(10))?.expect("the payload has a key");
    let crashed = Record {
        key: key.clone(),
        status: Status::InProgress,
        expiration: start / 1_000 + 60,
        in_progress_expiration: Some(start + 10_000),
        data: None,
        format: powertools_idempotency::RecordFormat::Python,
        validation: Some(powertools_idempotency::HashMode::Python.hash(&json!(10))),
    };
    store.put_if_absent_or_expired(&crashed, start).await?;
    now.advance(Duration::from_millis(5_000));
    assert!(matches!(
        run(payload(10)).await,
        Err(IdempotencyError::AlreadyInProgress { .. })
    ));
    now.advance(Duration::from_millis(6_000));
    assert_eq!(run(payload(10)).await?, json!({"charged": true}));
    assert_eq!(run(payload(10)).await?, json!({"charged": true}));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "ran once after the in-progress expiry"
    );

    // The same order with another amount is refused.
    assert!(matches!(
        run(payload(99)).await,
        Err(IdempotencyError::Validation { .. })
    ));

    // After expiry it runs again.
    now.advance(Duration::from_millis(61_000));
    assert_eq!(run(payload(10)).await?, json!({"charged": true}));
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // A failing handler leaves nothing behind.
    let other = json!({"body": "{\"order_id\":\"o-8\",\"amount\":1}"});
    let failed: Result<Value, _> = idem
        .run(&other, || async { Err::<Value, _>("declined".to_owned()) })
        .await;
    assert!(matches!(failed, Err(IdempotencyError::Handler(_))));
    let other_key = idem.key_for(&other)?.expect("the payload has a key");
    assert_eq!(store.get(&other_key).await?, None);
    client.delete_table().table_name(&name).send().await?;
    Ok(())
}

/// In the last second before a record expires, DynamoDB's condition (whole seconds) and the
/// client agree: the duplicate is replayed, never `IdempotencyInconsistentStateError`.
#[tokio::test]
async fn the_last_second_before_expiry_replays_over_dynamodb() -> TestResult {
    let name = powertools_testing::unique_name("idem-boundary");
    let (client, _) = table(&name).await?;
    let start = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() * 1_000 + 250;
    let now = ManualClock::at_epoch_millis(start);
    let idem = Idempotency::builder(DynamoDbStore::builder(client.clone(), &name).build())
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .event_key_jmespath("powertools_json(body)")
        .expires_after(Duration::from_secs(60))
        .clock(now.clock())
        .build()?;
    let payload = json!({"body": "{\"sku\":\"A\"}"});
    let runs = AtomicUsize::new(0);
    let call = || async {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        Ok::<_, String>(json!({"run": n}))
    };
    assert_eq!(idem.run(&payload, call).await?, json!({"run": 1}));
    let expiration = start / 1_000 + 60;
    now.set_epoch_millis(expiration * 1_000 + 500);
    let last_second: Result<Value, _> = idem.run(&payload, call).await;
    assert_eq!(last_second.map_err(|e| e.to_string())?, json!({"run": 1}));
    now.set_epoch_millis((expiration + 1) * 1_000);
    assert_eq!(idem.run(&payload, call).await?, json!({"run": 2}));
    client.delete_table().table_name(&name).send().await?;
    Ok(())
}

/// Responses DynamoDB cannot hold as they are (400 KB item limit) or serde_json cannot read
/// back (128 levels): the caller always gets its response; a duplicate gets it replayed when it
/// could be stored (compressed), else runs again; never an error, never a blocked key.
#[tokio::test]
async fn responses_the_table_cannot_hold_reach_the_caller_and_never_block_the_key() -> TestResult {
    let name = powertools_testing::unique_name("idem-large");
    let (client, _) = table(&name).await?;
    let idem = idempotency(&client, &name);
    let runs = AtomicUsize::new(0);
    let run = |body: &'static str, response: Value| {
        let idem = &idem;
        let runs = &runs;
        async move {
            idem.run(&json!({ "body": body }), || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(response)
            })
            .await
        }
    };

    // 500 KB that compresses: stored compressed, replayed.
    let large = json!({"lines": vec!["the same order line, again and again"; 14_000]});
    assert!(large.to_string().len() > 500_000);
    assert_eq!(run("{\"sku\":\"large\"}", large.clone()).await?, large);
    assert_eq!(run("{\"sku\":\"large\"}", json!(0)).await?, large);
    assert_eq!(runs.swap(0, Ordering::SeqCst), 1, "replayed");

    // 500 KB that does not compress: returned, not stored, the duplicate runs again.
    let random = json!(common::incompressible(500_000));
    assert_eq!(run("{\"sku\":\"random\"}", random.clone()).await?, random);
    assert_eq!(run("{\"sku\":\"random\"}", random.clone()).await?, random);
    assert_eq!(runs.swap(0, Ordering::SeqCst), 2, "ran again");

    // 200 levels deep: returned, not stored, the duplicate runs again.
    let deep = common::nested(200);
    assert_eq!(run("{\"sku\":\"deep\"}", deep.clone()).await?, deep);
    assert_eq!(run("{\"sku\":\"deep\"}", deep.clone()).await?, deep);
    assert_eq!(runs.swap(0, Ordering::SeqCst), 2, "ran again");
    client.delete_table().table_name(&name).send().await?;
    Ok(())
}

/// A TCP proxy in front of DynamoDB Local that can be cut: afterwards it refuses connections
/// and drops the open ones, as a store that went down.
struct CuttableProxy {
    endpoint: String,
    cut: tokio::sync::watch::Sender<bool>,
}

impl CuttableProxy {
    async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")?
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (cut, cut_seen) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut accepting = cut_seen.clone();
            loop {
                // `biased`: the cut is seen before any further byte is accepted or copied.
                tokio::select! {
                    biased;
                    _ = accepting.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { break };
                        let upstream = upstream.clone();
                        let mut connection = cut_seen.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                                return;
                            };
                            if *connection.borrow() {
                                return;
                            }
                            tokio::select! {
                                biased;
                                _ = connection.changed() => {}
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Self { endpoint, cut })
    }

    /// A client that reaches DynamoDB Local through the proxy, without retries.
    async fn client(&self) -> Result<aws_sdk_dynamodb::Client, Box<dyn std::error::Error>> {
        let config = sdk_config().await?;
        Ok(aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .endpoint_url(&self.endpoint)
                .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                .timeout_config(
                    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                        .operation_timeout(Duration::from_secs(10))
                        .build(),
                )
                .build(),
        ))
    }

    fn cut(&self) {
        let _ = self.cut.send(true);
    }
}

/// The store goes down after the claim, while the handler runs (the failure-mode table of the
/// crate docs): the caller gets the handler's outcome; a retry gets
/// `IdempotencyAlreadyInProgressError` until the in-progress expiry, then runs the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_going_down_after_the_claim_never_replaces_the_handlers_outcome() -> TestResult {
    let name = powertools_testing::unique_name("idem-down");
    let (direct, _) = table(&name).await?;
    let now = ManualClock::at(SystemTime::now());
    let start = now.epoch_millis();
    let over = |client: &aws_sdk_dynamodb::Client| {
        Idempotency::builder(DynamoDbStore::builder(client.clone(), &name).build())
            .env(Env::from_pairs([(
                "AWS_LAMBDA_FUNCTION_NAME",
                "orders-api",
            )]))
            .event_key_jmespath("powertools_json(body)")
            .in_progress_expiry(Duration::from_secs(30))
            .clock(now.clock())
            .build()
    };
    let retrying = over(&direct)?;
    let runs = AtomicUsize::new(0);

    for (sku, outcome) in [
        ("saved", Ok(json!({"order_id": "o-1"}))),
        ("failed", Err("declined".to_owned())),
    ] {
        now.set_epoch_millis(start);
        runs.store(0, Ordering::SeqCst);
        let proxy = CuttableProxy::start().await?;
        let going_down = over(&proxy.client().await?)?;
        let payload = json!({ "body": format!("{{\"sku\":\"{sku}\"}}") });
        let first: Result<Value, IdempotencyError<String>> = going_down
            .run(&payload, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                proxy.cut(); // after the claim, before the response is saved
                tokio::time::sleep(Duration::from_millis(50)).await;
                outcome.clone()
            })
            .await;
        match (&first, &outcome) {
            (Ok(got), Ok(expected)) => {
                assert_eq!(got, expected, "{sku}: the caller gets its response")
            }
            (Err(IdempotencyError::Handler(got)), Err(expected)) => {
                assert_eq!(got, expected, "{sku}: the caller gets the handler's error")
            }
            _ => return Err(format!("{sku}: {first:?}").into()),
        }
        // The proxy is down: this client fails like a store that went away.
        let down: Result<Value, IdempotencyError<String>> =
            going_down.run(&payload, || async { Ok(json!(0)) }).await;
        assert!(
            matches!(down, Err(IdempotencyError::Persistence { .. })),
            "{sku}: {down:?}"
        );

        // The record is still INPROGRESS: a retry is refused until the in-progress expiry...
        let key = retrying.key_for(&payload)?.expect("the payload has a key");
        let left = DynamoDbStore::builder(direct.clone(), &name).build();
        let record = powertools_idempotency::Store::get(&left, &key).await?;
        assert_eq!(
            record.map(|r| (r.status, r.in_progress_expiration)),
            Some((
                powertools_idempotency::Status::InProgress,
                Some(start + 30_000)
            )),
            "{sku}"
        );
        now.set_epoch_millis(start + 29_000);
        let early: Result<Value, IdempotencyError<String>> = retrying
            .run(&payload, || async { Ok(json!("retried")) })
            .await;
        assert!(
            matches!(early, Err(IdempotencyError::AlreadyInProgress { .. })),
            "{sku}: {early:?}"
        );
        // ... then runs the handler again.
        now.set_epoch_millis(start + 31_000);
        let late: Value = retrying
            .run(&payload, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(json!("retried"))
            })
            .await?;
        assert_eq!(late, json!("retried"));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "{sku}: ran again after the in-progress expiry"
        );
    }
    direct.delete_table().table_name(&name).send().await?;
    Ok(())
}
