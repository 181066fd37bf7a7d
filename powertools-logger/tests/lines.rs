//! The logger's lines, asserted as parsed JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::{Clock, ColdStart, Env, Invocation, LineWriter};
use powertools_logger::{BufferConfig, CorrelationPath, Json, Logger, LoggerBuilder};
use powertools_testing::{CapturedOutput, ManualClock, lambda_env};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::Dispatch;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

/// Every line, parsed; a line that is not JSON fails the test.
/// The keys of line `index` in the order they were written (a `serde_json::Map` would sort
/// them unless serde_json's `preserve_order` is on, which the logger does not force).
fn key_order(captured: &CapturedOutput, index: usize) -> Vec<String> {
    let line: powertools_logger::LogLine = serde_json::from_str(&captured.lines()[index])
        .unwrap_or_else(|e| panic!("{e}: {}", captured.text()));
    line.iter().map(|(k, _)| k.to_owned()).collect()
}

fn json(captured: &CapturedOutput) -> Vec<Value> {
    captured
        .json_lines()
        .unwrap_or_else(|e| panic!("{e}: {}", captured.text()))
}

const LAMBDA_ENV: [(&str, &str); 3] = [
    ("POWERTOOLS_SERVICE_NAME", "orders"),
    ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
];

/// A clock that starts at a fixed instant and moves 1 ms per reading.
fn stepping_clock() -> Clock {
    let manual = ManualClock::at_epoch_millis(1_795_268_547_000);
    Clock::from_fn(move || {
        let now = manual.now();
        manual.advance(Duration::from_millis(1));
        now
    })
}

fn builder(extra_env: &[(&str, &str)]) -> (LoggerBuilder, CapturedOutput) {
    let captured = CapturedOutput::new();
    let env = lambda_env(LAMBDA_ENV.iter().chain(extra_env).copied());
    let builder = Logger::builder()
        .env(env.with_reporter(|_| {}))
        .writer(captured.line_writer())
        .clock(stepping_clock());
    (builder, captured)
}

fn dispatch(logger: &Logger) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer()))
}

fn event(request_id: &str, payload: Value) -> LambdaEvent<Value> {
    let mut event = powertools_testing::test_event(request_id, payload);
    event.context.invoked_function_arn =
        "arn:aws:lambda:eu-west-1:123456789012:function:orders-api".to_owned();
    event.context.xray_trace_id = Some(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1".to_owned(),
    );
    event
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::info!(order_id = "o-1001", quantity = 2, "order accepted");
    if let Some(message) = event.payload.get("fail").and_then(Value::as_str) {
        return Err(message.into());
    }
    Ok(json!({"ok": true}))
}

/// Runs `events` one after the other through the logger's tower layer.
async fn run_invocations(logger: &Logger, events: Vec<LambdaEvent<Value>>) {
    let flag = Arc::new(ColdStart::new());
    for event in events {
        let service = logger
            .layer()
            .with_cold_start_flag(Arc::clone(&flag))
            .layer(service_fn(handle));
        let _ = service
            .oneshot(event)
            .with_subscriber(dispatch(logger))
            .await;
    }
}

/// Runs invocations `req-0` to `req-<count - 1>` (payload `{"n": n}`) at the same time, on
/// tasks of the runtime.
async fn run_concurrently<S>(service: &S, logger: &Logger, count: u64)
where
    S: tower::Service<LambdaEvent<Value>> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let call = service
                .clone()
                .oneshot(event(&format!("req-{n}"), json!({"n": n})));
            tokio::spawn(call.with_subscriber(dispatch(logger)))
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::test]
async fn cold_then_warm_lines_carry_the_spec_keys_and_types() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .correlation_id_path(CorrelationPath::ApiGatewayRest)
        .build()
        .unwrap();
    let payload = powertools_testing::events::api_gateway_rest("GET", "/orders")
        .request_id("7f8e3c1a")
        .build();
    run_invocations(
        &logger,
        vec![event("req-1", payload.clone()), event("req-2", payload)],
    )
    .await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 2, "{}", captured.text());

    let keys = key_order(&captured, 0);
    assert_eq!(
        keys,
        [
            "level",
            "location",
            "message",
            "timestamp",
            "service",
            "cold_start",
            "function_name",
            "function_memory_size",
            "function_arn",
            "function_request_id",
            "xray_trace_id",
            "correlation_id",
            "order_id",
            "quantity"
        ]
    );
    let first = &lines[0];
    assert_eq!(first["level"], "INFO");
    assert!(
        first["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("lines::handle:") || l.starts_with("lines:")),
        "{first}"
    );
    assert_eq!(first["message"], "order accepted");
    assert_eq!(first["timestamp"], "2026-11-21T13:42:27.000Z");
    assert_eq!(first["service"], "orders");
    assert_eq!(first["cold_start"], true);
    assert_eq!(first["function_name"], "orders-api");
    assert_eq!(first["function_memory_size"], 512);
    assert!(first["function_memory_size"].is_u64());
    assert_eq!(
        first["function_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:orders-api"
    );
    assert_eq!(first["function_request_id"], "req-1");
    assert_eq!(
        first["xray_trace_id"],
        "1-5759e988-bd862e3fe1be46a994272793"
    );
    assert_eq!(first["correlation_id"], "7f8e3c1a");
    assert_eq!(first["order_id"], "o-1001");
    assert_eq!(first["quantity"], 2);

    let second = &lines[1];
    assert_eq!(second["cold_start"], false);
    assert!(second["cold_start"].is_boolean());
    assert_eq!(second["function_request_id"], "req-2");
    assert_eq!(second["timestamp"], "2026-11-21T13:42:27.001Z");
}

#[test]
fn lines_during_init_omit_invocation_keys() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("initialising"));
    let line = &json(&captured)[0];
    for absent in [
        "cold_start",
        "function_request_id",
        "function_arn",
        "xray_trace_id",
        "correlation_id",
        "sampling_rate",
    ] {
        assert!(line.get(absent).is_none(), "{absent} in {line}");
    }
    assert_eq!(line["function_name"], "orders-api");
}

#[tokio::test]
async fn correlation_ids_for_each_built_in_event_type() {
    let cases = [
        (
            "apigw-rest.json",
            CorrelationPath::ApiGatewayRest,
            "77375676-xmpl-4b79-853a-f982474efe18",
        ),
        (
            "apigw-http.json",
            CorrelationPath::ApiGatewayHttp,
            "JKJaXmPLvHcESHA=",
        ),
        (
            "function-url.json",
            CorrelationPath::FunctionUrl,
            "id-from-function-url",
        ),
        (
            "alb.json",
            CorrelationPath::ApplicationLoadBalancer,
            "Root=1-5c536348-3d683b8b04734faae651f476",
        ),
        (
            "appsync-resolver.json",
            CorrelationPath::AppSyncResolver,
            "Root=1-5f512f51-fac632066c5e848ae714ac8b",
        ),
        (
            "eventbridge.json",
            CorrelationPath::EventBridge,
            "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        ),
        (
            "eventbridge.json",
            CorrelationPath::Custom("detail.state".into()),
            "terminated",
        ),
    ];
    for (file, path, expected) in cases {
        let raw = std::fs::read_to_string(format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let payload: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (builder, captured) = builder(&[]);
        let logger = builder.correlation_id_path(path.clone()).build().unwrap();
        run_invocations(&logger, vec![event("r", payload)]).await;
        assert_eq!(
            json(&captured)[0]["correlation_id"],
            expected,
            "{file} with {path:?}"
        );
    }
}

#[tokio::test]
async fn a_correlation_path_may_read_inside_a_json_body() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .correlation_id_path(CorrelationPath::Custom(
            "powertools_json(body).order_id".into(),
        ))
        .build()
        .unwrap();
    let body = json!({"body": "{\"order_id\": \"o-1001\"}"});
    run_invocations(&logger, vec![event("req-body", body)]).await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 1, "{}", captured.text());
    assert_eq!(lines[0]["correlation_id"], "o-1001", "{}", lines[0]);
}

#[tokio::test]
async fn a_scoped_correlation_id_covers_its_future_only_and_side_by_side_futures_keep_theirs() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .correlation_id_path(CorrelationPath::Custom("id".into()))
        .build()
        .unwrap();
    let service = logger
        .layer()
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            tracing::info!("before");
            powertools_logger::with_correlation_id("record-1", async {
                tracing::info!("record");
                assert_eq!(
                    powertools_logger::correlation_id().as_deref(),
                    Some("record-1")
                );
            })
            .await;
            let slow = powertools_logger::with_correlation_id("record-2", async {
                tokio::task::yield_now().await;
                tracing::info!("side by side");
            });
            let fast = powertools_logger::with_correlation_id("record-3", async {
                tracing::info!("side by side");
                tokio::task::yield_now().await;
                tracing::info!("side by side");
            });
            tokio::join!(slow, fast);
            powertools_logger::sync_with_correlation_id("record-4", || tracing::info!("sync"));
            tracing::info!("after");
            assert_eq!(
                powertools_logger::correlation_id().as_deref(),
                Some("from-event")
            );
            Ok::<_, Error>(())
        }));
    service
        .oneshot(event("r", json!({"id": "from-event"})))
        .with_subscriber(dispatch(&logger))
        .await
        .unwrap();
    let ids: Vec<(String, String)> = json(&captured)
        .iter()
        .map(|l| {
            (
                l["message"].as_str().unwrap().to_owned(),
                l["correlation_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(|(m, c)| (m.as_str(), c.as_str())).collect();
    assert_eq!(pairs[0], ("before", "from-event"));
    assert_eq!(pairs[1], ("record", "record-1"));
    let mut side: Vec<&str> = pairs[2..5].iter().map(|(_, c)| *c).collect();
    side.sort_unstable();
    assert_eq!(side, ["record-2", "record-3", "record-3"]);
    assert_eq!(pairs[5], ("sync", "record-4"));
    assert_eq!(
        pairs[6],
        ("after", "from-event"),
        "the invocation's id is untouched"
    );
}

#[tokio::test]
async fn correlation_id_setter_and_missing_path() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .correlation_id_path(CorrelationPath::EventBridge)
        .build()
        .unwrap();
    let flag = Arc::new(ColdStart::new());
    let service = logger.layer().with_cold_start_flag(flag).layer(service_fn(
        |_e: LambdaEvent<Value>| async {
            tracing::info!("before");
            powertools_logger::set_correlation_id("set-by-code");
            assert_eq!(
                powertools_logger::correlation_id().as_deref(),
                Some("set-by-code")
            );
            tracing::info!("after");
            Ok::<_, Error>(())
        },
    ));
    let _ = service
        .oneshot(event("r", json!({"no_id": true})))
        .with_subscriber(dispatch(&logger))
        .await;
    let lines = json(&captured);
    assert!(lines[0].get("correlation_id").is_none(), "{}", lines[0]);
    assert_eq!(lines[1]["correlation_id"], "set-by-code");
    assert!(
        !powertools_logger::set_correlation_id("outside"),
        "no invocation, nothing set"
    );
}

#[test]
fn invalid_builder_values_are_errors_that_say_what_to_do() {
    let (b, _) = builder(&[]);
    let err = b.sample_rate(1.5).build().unwrap_err().to_string();
    assert!(err.contains("outside 0.0..=1.0"), "{err}");
    let (b, _) = builder(&[]);
    let err = b
        .correlation_id_path(CorrelationPath::Custom("a.[".into()))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid JMESPath"), "{err}");
    let (b, _) = builder(&[]);
    let err = b
        .rename_key("lambda_request_id", "x")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a standard key"), "{err}");
    let (b, _) = builder(&[]);
    assert!(
        b.buffer(BufferConfig::default().max_bytes(0))
            .build()
            .is_err()
    );
}

#[test]
fn malformed_environment_falls_back_without_failing() {
    let (builder, captured) = builder(&[
        ("POWERTOOLS_LOGGER_SAMPLE_RATE", "7"),
        ("POWERTOOLS_LOG_LEVEL", "loud"),
    ]);
    let logger = builder.build().unwrap();
    assert_eq!(logger.level(), tracing::level_filters::LevelFilter::INFO);
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        tracing::debug!("hidden");
        tracing::info!("shown");
    });
    let lines = json(&captured);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].get("sampling_rate").is_none());
}

#[tokio::test]
async fn levels_follow_lambda_advanced_logging_controls() {
    let (builder, captured) = builder(&[
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ("POWERTOOLS_LOG_LEVEL", "DEBUG"),
    ]);
    let logger = builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let levels: Vec<Value> = json(&captured).iter().map(|l| l["level"].clone()).collect();
    assert_eq!(levels, [json!("WARN"), json!("ERROR")]);
}

async fn debug_and_info(_e: LambdaEvent<Value>) -> Result<(), Error> {
    tracing::debug!(step = 1, "checking stock");
    tracing::info!("order accepted");
    Ok(())
}

#[tokio::test]
async fn sampling_at_one_logs_debug_with_the_rate_and_at_zero_does_not() {
    for (rate, expected_levels) in [(1.0, vec!["DEBUG", "INFO"]), (0.0, vec!["INFO"])] {
        let (builder, captured) = builder(&[]);
        let logger = builder.sample_rate(rate).build().unwrap();
        let service = logger.layer().layer(service_fn(debug_and_info));
        let _ = service
            .oneshot(event("r", json!({})))
            .with_subscriber(dispatch(&logger))
            .await;
        let lines = json(&captured);
        let levels: Vec<&str> = lines.iter().filter_map(|l| l["level"].as_str()).collect();
        assert_eq!(levels, expected_levels, "rate {rate}");
        for line in &lines {
            if rate > 0.0 {
                assert_eq!(line["sampling_rate"], rate, "{line}");
            } else {
                assert!(line.get("sampling_rate").is_none(), "{line}");
            }
        }
    }
}

#[tokio::test]
async fn sampling_rate_from_the_environment() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", "1")]);
    let logger = builder.build().unwrap();
    let service = logger.layer().layer(service_fn(debug_and_info));
    let _ = service
        .oneshot(event("r", json!({})))
        .with_subscriber(dispatch(&logger))
        .await;
    assert_eq!(json(&captured)[0]["level"], "DEBUG");
}

async fn buffered_then(event: LambdaEvent<Value>) -> Result<(), Error> {
    tracing::debug!(step = 1, "first detail");
    tracing::info!("visible");
    tracing::debug!(step = 2, "second detail");
    match event.payload["then"].as_str() {
        Some("error_log") => {
            tracing::error!("payment failed");
            Ok(())
        }
        Some("fail") => Err("handler failed".into()),
        _ => Ok(()),
    }
}

async fn run_buffered(then: &str, config: BufferConfig) -> Vec<Value> {
    let (builder, captured) = builder(&[]);
    let logger = builder.buffer(config).build().unwrap();
    let service = logger.layer().layer(service_fn(buffered_then));
    let _ = service
        .oneshot(event("r", json!({"then": then})))
        .with_subscriber(dispatch(&logger))
        .await;
    json(&captured)
}

fn summary(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_owned(),
                l["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn buffer_is_dropped_when_the_invocation_succeeds() {
    let lines = run_buffered("succeed", BufferConfig::default()).await;
    assert_eq!(summary(&lines), [("INFO".to_owned(), "visible".to_owned())]);
}

#[tokio::test]
async fn buffer_is_flushed_in_order_with_original_timestamps_on_an_error_log() {
    let lines = run_buffered("error_log", BufferConfig::default()).await;
    let s: Vec<(&str, &str)> = summary(&lines)
        .iter()
        .map(|(a, b)| (leak(a), leak(b)))
        .collect();
    assert_eq!(
        s,
        [
            ("INFO", "visible"),
            ("DEBUG", "first detail"),
            ("DEBUG", "second detail"),
            ("ERROR", "payment failed")
        ]
    );
    // Timestamps are those of the original calls: first detail before visible.
    let ts = |i: usize| lines[i]["timestamp"].as_str().unwrap().to_owned();
    assert!(ts(1) < ts(0) && ts(0) < ts(2) && ts(2) < ts(3), "{lines:?}");
    assert_eq!(lines[1]["step"], 1);
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[tokio::test]
async fn buffer_is_flushed_when_the_handler_fails() {
    let lines = run_buffered("fail", BufferConfig::default()).await;
    let messages: Vec<String> = summary(&lines).into_iter().map(|(_, m)| m).collect();
    assert_eq!(messages, ["visible", "first detail", "second detail"]);
}

#[tokio::test]
async fn buffer_evicts_oldest_first_and_warns_on_flush() {
    // Room for about one line: the first detail is evicted.
    let lines = run_buffered("fail", BufferConfig::default().max_bytes(450)).await;
    let s = summary(&lines);
    assert_eq!(s.len(), 3, "{lines:?}");
    assert_eq!(s[0].1, "visible");
    assert_eq!(s[1].0, "WARN");
    assert!(
        s[1].1.contains("1 buffered log line(s) were evicted"),
        "{}",
        s[1].1
    );
    assert_eq!(s[2].1, "second detail");
}

#[test]
fn nothing_is_buffered_during_init() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOG_LEVEL", "DEBUG")]);
    let logger = builder.buffer(BufferConfig::default()).build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::debug!("init detail"));
    assert_eq!(json(&captured)[0]["message"], "init detail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_do_not_mix_keys() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    let flag = Arc::new(ColdStart::new());
    let service = logger.layer().with_cold_start_flag(flag).layer(service_fn(
        |e: LambdaEvent<Value>| async move {
            let n = e.payload["n"].as_u64().unwrap_or(0);
            powertools_logger::append_invocation_key("customer", json!(format!("c-{n}")));
            powertools_logger::set_correlation_id(format!("corr-{n}"));
            for step in 0..5u64 {
                tracing::info!(step, "working");
                tokio::time::sleep(Duration::from_micros((n * 31 + step * 17) % 200)).await;
            }
            Ok::<_, Error>(())
        },
    ));
    run_concurrently(&service, &logger, 40).await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 200);
    for line in &lines {
        let n = line["function_request_id"]
            .as_str()
            .and_then(|r| r.strip_prefix("req-"))
            .unwrap();
        assert_eq!(line["customer"], format!("c-{n}"), "{line}");
        assert_eq!(line["correlation_id"], format!("corr-{n}"), "{line}");
    }
    let cold = lines
        .iter()
        .filter(|l| l["cold_start"] == true)
        .map(|l| l["function_request_id"].clone());
    let cold: std::collections::BTreeSet<String> = cold.map(|v| v.to_string()).collect();
    assert_eq!(cold.len(), 1, "one invocation is the cold start");
}

#[tokio::test]
async fn invocation_keys_vanish_when_the_invocation_ends_and_persistent_keys_stay() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .append_key("team", json!("checkout"))
        .build()
        .unwrap();
    logger.append_persistent_keys([("region_group", json!({"primary": "eu"}))]);
    let flag = Arc::new(ColdStart::new());
    for n in 0..2 {
        let service = logger
            .layer()
            .with_cold_start_flag(Arc::clone(&flag))
            .layer(service_fn(move |_e: LambdaEvent<Value>| async move {
                if n == 0 {
                    powertools_logger::append_invocation_key("order_id", json!("o-1"));
                }
                tracing::info!("line");
                Ok::<_, Error>(())
            }));
        let _ = service
            .oneshot(event(&format!("r{n}"), json!({})))
            .with_subscriber(dispatch(&logger))
            .await;
    }
    logger.remove_persistent_keys(["team"]);
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("after"));
    let lines = json(&captured);
    assert_eq!(lines[0]["order_id"], "o-1");
    assert!(lines[1].get("order_id").is_none(), "{}", lines[1]);
    assert_eq!(lines[0]["team"], "checkout");
    assert_eq!(lines[1]["region_group"], json!({"primary": "eu"}));
    assert!(lines[2].get("team").is_none());
}

#[test]
fn structured_messages_span_fields_and_precedence() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .append_key("order_id", json!("from-logger"))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        let outer = tracing::info_span!("checkout", cart = 3, order_id = "from-outer-span");
        let _o = outer.enter();
        let inner = tracing::info_span!(
            "payment",
            provider = "acme",
            order_id = tracing::field::Empty
        );
        let _i = inner.enter();
        tracing::info!(message = ?Json(json!({"operation": "PutItem", "consumed": 1.5})));
        inner.record("order_id", "from-inner-span");
        tracing::info!(order_id = "from-event", amount = 12.5, paid = true, "paid");
        tracing::info!("inherits");
    });
    let lines = json(&captured);
    assert_eq!(
        lines[0]["message"],
        json!({"operation": "PutItem", "consumed": 1.5})
    );
    assert_eq!(lines[0]["order_id"], "from-outer-span");
    assert_eq!(lines[0]["cart"], 3);
    assert_eq!(lines[0]["provider"], "acme");
    assert_eq!(lines[1]["order_id"], "from-event");
    assert_eq!(lines[1]["amount"], 12.5);
    assert_eq!(lines[1]["paid"], true);
    assert_eq!(lines[2]["order_id"], "from-inner-span");
}

#[test]
fn annotation_fields_are_written_under_their_own_name() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        let span = tracing::info_span!("## save_order", annotation.customer = "c-42", items = 2);
        let _s = span.enter();
        tracing::info!(annotation.region = "eu", "saved");
    });
    let lines = json(&captured);
    assert_eq!(lines[0]["customer"], "c-42", "{}", lines[0]);
    assert_eq!(lines[0]["region"], "eu", "{}", lines[0]);
    assert_eq!(lines[0]["items"], 2);
    assert!(
        !captured.text().contains("annotation."),
        "no prefixed key: {}",
        captured.text()
    );
}

#[test]
fn errors_become_an_error_object_with_the_source_chain() {
    #[derive(Debug)]
    struct SaveFailed(std::io::Error);
    impl std::fmt::Display for SaveFailed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("saving order o-1 failed")
        }
    }
    impl std::error::Error for SaveFailed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    let error = SaveFailed(std::io::Error::other("throttled"));
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        tracing::error!(error = &error as &dyn std::error::Error, "order not saved");
    });
    let line = &json(&captured)[0];
    assert_eq!(
        line["error"],
        json!({"name": "SaveFailed", "message": "saving order o-1 failed", "chain": ["throttled"]})
    );
}

#[tokio::test]
async fn redaction_anywhere_in_a_line_and_in_the_logged_event() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]);
    let logger = builder
        .redact_key("password")
        .redact_key("Authorization")
        .append_key("authorization", json!("Bearer persistent"))
        .build()
        .unwrap();
    let service = logger.layer().layer(service_fn(|_e: LambdaEvent<Value>| async {
        tracing::info!(password = "hunter2", user = ?Json(json!({"name": "ann", "auth": {"PASSWORD": "x"}})), "login");
        Ok::<_, Error>(())
    }));
    let payload = json!({"headers": {"authorization": "Bearer secret-token"}, "body": "{}"});
    let _ = service
        .oneshot(event("r", payload))
        .with_subscriber(dispatch(&logger))
        .await;
    let text = captured.text();
    for secret in ["hunter2", "secret-token", "Bearer persistent", "\"x\""] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let lines = json(&captured);
    assert_eq!(
        lines[0]["message"]["headers"]["authorization"], "*****",
        "the logged event"
    );
    assert_eq!(lines[1]["password"], "*****");
    assert_eq!(
        lines[1]["user"],
        json!({"name": "ann", "auth": {"PASSWORD": "*****"}})
    );
    assert_eq!(lines[1]["authorization"], "*****");
}

#[test]
fn renamed_keys_and_formatter_hook() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .rename_key("function_name", "lambda_function_name")
        .rename_key("location", "")
        .formatter(|line| {
            line.insert("formatted", json!(true));
        })
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("x"));
    let line = &json(&captured)[0];
    assert_eq!(line["lambda_function_name"], "orders-api");
    assert!(line.get("function_name").is_none());
    assert!(line.get("location").is_none());
    assert_eq!(line["formatted"], true);
    // The hook sees, and the line keeps, the standard order, whatever serde_json's features.
    let keys = key_order(&captured, 0);
    assert_eq!(keys.first().map(String::as_str), Some("level"), "{keys:?}");
    let at = |k: &str| keys.iter().position(|x| x == k).unwrap_or(usize::MAX);
    assert!(
        at("message") < at("timestamp") && at("timestamp") < at("service"),
        "{keys:?}"
    );
    assert_eq!(
        keys.last().map(String::as_str),
        Some("formatted"),
        "{keys:?}"
    );
}

#[test]
fn dev_mode_pretty_prints_unless_lambda_wants_json_lines() {
    let (dev_builder, captured) = builder(&[("POWERTOOLS_DEV", "true")]);
    let logger = dev_builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("pretty"));
    let text = captured.text();
    assert!(text.starts_with("{\n  \"level\": \"INFO\""), "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text)
            .map(|v| v["message"].clone())
            .ok(),
        Some(json!("pretty"))
    );

    let (json_builder, captured) = builder(&[
        ("POWERTOOLS_DEV", "true"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ]);
    let logger = json_builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("compact"));
    assert_eq!(captured.lines().len(), 1);
}

#[test]
fn a_failing_writer_never_fails_or_panics_the_caller() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }
    let logger = Logger::builder()
        .env(Env::from_lookup(|_| None))
        .writer(LineWriter::new(|| Broken))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        for n in 0..3 {
            tracing::info!(n, "into the void");
        }
    });
}

#[test]
fn huge_deep_and_unserializable_values_still_give_valid_lines() {
    struct Unserializable;
    impl serde::Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cyclic"))
        }
    }
    let mut deep = Value::Null;
    for _ in 0..500 {
        deep = Value::Array(vec![deep]);
    }
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    let huge = "x".repeat(1_000_000);
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        tracing::info!(blob = huge.as_str(), "huge");
        tracing::info!(deep = ?Json(&deep), "deep");
        tracing::info!(bad = ?Json(Unserializable), "unserializable");
        tracing::info!(
            bytes = tracing::field::display(String::from_utf8_lossy(&[0xff, 0xfe, b'a'])),
            "invalid utf-8"
        );
    });
    let lines = json(&captured);
    assert_eq!(lines.len(), 4);
    let blob = lines[0]["blob"].as_str().unwrap();
    assert!(
        blob.len() < 40_000 && blob.ends_with("bytes]"),
        "{}",
        blob.len()
    );
    assert!(lines[1]["deep"].is_string() || lines[1]["deep"].is_array());
    assert!(
        lines[2]["bad"]
            .as_str()
            .is_some_and(|s| s.contains("cyclic"))
    );
    assert_eq!(lines[3]["bytes"], "\u{fffd}\u{fffd}a");
    assert!(captured.lines().iter().all(|l| l.len() < 256 * 1024));
    assert_eq!(deep_drop(deep), 501);
}

/// Drops a deep value iteratively.
fn deep_drop(value: Value) -> usize {
    let mut stack = vec![value];
    let mut n = 0;
    while let Some(mut v) = stack.pop() {
        n += 1;
        if let Value::Array(items) = &mut v {
            stack.append(items);
        }
    }
    n
}

#[test]
fn filtered_out_lines_are_not_written() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOG_LEVEL", "ERROR")]);
    let logger = builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        tracing::info!("no");
        tracing::warn!("no");
    });
    assert!(captured.text().is_empty());
    let _ = Invocation::current();
}

/// A layer beside the logger that counts what reaches it.
#[derive(Clone, Default)]
struct Counting {
    spans: Arc<AtomicU64>,
    events: Arc<AtomicU64>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.spans.fetch_add(1, Ordering::SeqCst);
    }
    fn on_event(
        &self,
        _event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.events.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn the_logger_level_filters_only_the_logger_output() {
    let (builder, captured) = builder(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    let logger = builder.build().unwrap();
    let counting = Counting::default();
    let subscriber = tracing_subscriber::registry()
        .with(logger.tracing_layer())
        .with(counting.clone());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("## charge", order_id = "o-1");
        let _entered = span.enter();
        tracing::info!("not for the logger");
        tracing::debug!("not for the logger either");
        tracing::warn!("for everyone");
    });
    assert_eq!(
        counting.spans.load(Ordering::SeqCst),
        1,
        "the INFO span exists for other layers"
    );
    assert_eq!(
        counting.events.load(Ordering::SeqCst),
        3,
        "every event reaches other layers"
    );
    let lines = json(&captured);
    let levels: Vec<&str> = lines.iter().filter_map(|l| l["level"].as_str()).collect();
    assert_eq!(levels, ["WARN"], "{}", captured.text());
    assert!(
        lines[0].get("order_id").is_none(),
        "an INFO span is below the logger's WARN: the logger keeps none of its fields (a WARN \
         span's fields are kept, see the_logger_keeps_no_fields_of_spans_below_what_it_could_write)"
    );
}

#[allow(clippy::panic)] // the handler under test panics on purpose
async fn panicking(_e: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::debug!(step = 1, "held detail");
    tracing::info!("before the panic");
    tokio::task::yield_now().await;
    let empty: Vec<u8> = Vec::new();
    if empty.is_empty() {
        std::panic::panic_any(String::from("index out of bounds: the len is 0"));
    }
    Ok(json!({}))
}

#[tokio::test]
async fn a_panicking_handler_flushes_the_buffer_logs_the_panic_and_panics_on() {
    let (builder, captured) = builder(&[]);
    let logger = builder.buffer(BufferConfig::default()).build().unwrap();
    let service = logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(panicking));
    let outcome = powertools_core::catch_panic(|| {
        service
            .oneshot(event("req-panic", json!({})))
            .with_subscriber(dispatch(&logger))
    })
    .await;
    let panicked = outcome.err().map(|p| p.message().to_owned());
    assert_eq!(
        panicked.as_deref(),
        Some("index out of bounds: the len is 0"),
        "the panic goes on to the runtime"
    );
    let lines = json(&captured);
    assert_eq!(
        summary(&lines),
        [
            ("INFO".to_owned(), "before the panic".to_owned()),
            ("DEBUG".to_owned(), "held detail".to_owned()),
            (
                "ERROR".to_owned(),
                "index out of bounds: the len is 0".to_owned()
            ),
        ],
        "{}",
        captured.text()
    );
    let error = &lines[2];
    assert_eq!(error["function_request_id"], "req-panic");
    assert_eq!(error["cold_start"], true);
    assert_eq!(error["error"]["name"], "Panic");
    assert_eq!(
        error["error"]["message"],
        "index out of bounds: the len is 0"
    );
}

/// The standard keys a line of an invocation carries, with the values the test expects.
fn real_values(line: &Value) {
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["message"], "charged", "{line}");
    assert_eq!(line["service"], "orders", "{line}");
    assert_eq!(line["cold_start"], true, "{line}");
    assert_eq!(line["function_name"], "orders-api", "{line}");
    assert_eq!(line["function_memory_size"], 512, "{line}");
    assert_eq!(
        line["function_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:orders-api"
    );
    assert_eq!(line["function_request_id"], "req-real", "{line}");
    assert_eq!(line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(line["correlation_id"], "corr-real", "{line}");
    assert_eq!(line["sampling_rate"], 0.5, "{line}");
    assert!(
        line["timestamp"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-11-21T")),
        "{line}"
    );
}

const SPOOFABLE: [&str; 13] = [
    "level",
    "location",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "correlation_id",
    "sampling_rate",
    "tenant_id",
];

#[tokio::test]
async fn event_fields_named_like_powertools_keys_do_not_replace_them() {
    let (builder, captured) = builder(&[]);
    let logger = builder.sample_rate(0.5).build().unwrap();
    let service = logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            powertools_logger::set_correlation_id("corr-real");
            tracing::info!(
                level = "DEBUG",
                location = "spoof",
                timestamp = "1970-01-01T00:00:00.000Z",
                service = "spoof",
                cold_start = false,
                function_name = "spoof",
                function_memory_size = 1,
                function_arn = "spoof",
                function_request_id = "spoof",
                xray_trace_id = "spoof",
                correlation_id = "spoof",
                sampling_rate = 9,
                tenant_id = "spoof",
                "charged"
            );
            Ok::<_, Error>(())
        }));
    let _ = service
        .oneshot(event("req-real", json!({})))
        .with_subscriber(dispatch(&logger))
        .await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 1, "{}", captured.text());
    real_values(&lines[0]);
    // The user's values are kept, under another name.
    for key in SPOOFABLE {
        assert!(
            lines[0].get(format!("extra_{key}")).is_some(),
            "extra_{key} missing: {}",
            lines[0]
        );
    }
    assert_eq!(lines[0]["extra_function_request_id"], "spoof");
    assert_eq!(lines[0]["extra_cold_start"], false);
}

#[tokio::test]
async fn appended_keys_named_like_powertools_keys_do_not_replace_them() {
    let (builder, captured) = builder(&[]);
    let mut builder = builder.sample_rate(0.5);
    for key in SPOOFABLE {
        builder = builder.append_key(key, json!(format!("persistent-{key}")));
    }
    let logger = builder.build().unwrap();
    let service = logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            powertools_logger::set_correlation_id("corr-real");
            for key in SPOOFABLE {
                powertools_logger::append_invocation_key(key, json!(format!("invocation-{key}")));
            }
            powertools_logger::append_invocation_key("message", json!("spoof"));
            tracing::info!("charged");
            Ok::<_, Error>(())
        }));
    let _ = service
        .oneshot(event("req-real", json!({})))
        .with_subscriber(dispatch(&logger))
        .await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 1, "{}", captured.text());
    real_values(&lines[0]);
    for key in SPOOFABLE {
        // The invocation's key is the more specific one.
        assert_eq!(
            lines[0][format!("extra_{key}")],
            format!("invocation-{key}"),
            "{}",
            lines[0]
        );
    }
    assert_eq!(lines[0]["extra_message"], "spoof");
}

#[tokio::test]
async fn the_tenant_id_follows_the_lambda_context_keys_when_there_is_one() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    let mut with_tenant = event("req-tenant", json!({}));
    with_tenant.context.tenant_id = Some("tenant-blue".to_owned());
    run_invocations(&logger, vec![with_tenant, event("req-none", json!({}))]).await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 2, "{}", captured.text());
    assert_eq!(lines[0]["tenant_id"], "tenant-blue");
    let keys = key_order(&captured, 0);
    let at = |k: &str| keys.iter().position(|x| x == k);
    assert_eq!(
        at("tenant_id"),
        at("function_request_id").map(|i| i + 1),
        "{keys:?}"
    );
    assert_eq!(
        at("xray_trace_id"),
        at("tenant_id").map(|i| i + 1),
        "{keys:?}"
    );
    assert!(lines[1].get("tenant_id").is_none(), "{}", lines[1]);
}

/// `{"password": "hunter2-<n>", "next": {...}}` nested `depth` deep, built without recursion.
fn nested_secrets(depth: usize) -> Value {
    let mut value = json!({"password": format!("hunter2-{depth}")});
    for n in (0..depth).rev() {
        // Moved in, not through `json!` (which serializes its values, recursively).
        let mut map = serde_json::Map::new();
        map.insert("password".into(), json!(format!("hunter2-{n}")));
        map.insert("next".into(), value);
        value = Value::Object(map);
    }
    value
}

/// Drops a deep value of objects and arrays iteratively.
fn drop_deep(value: Value) {
    let mut stack = vec![value];
    while let Some(mut v) = stack.pop() {
        match &mut v {
            Value::Array(items) => stack.append(items),
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if let Some(child) = map.remove(&key) {
                        stack.push(child);
                    }
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn redaction_holds_for_values_too_deep_or_too_large_to_write_as_json() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]);
    let logger = builder.redact_key("password").build().unwrap();
    let deep = nested_secrets(100);
    let large = json!({"password": "hunter2-large", "padding": vec!["x".repeat(1_000); 200]});
    let service = logger
        .layer()
        .layer(service_fn(|e: LambdaEvent<Value>| async move {
            let deep = &e.payload["deep"];
            let large = &e.payload["large"];
            powertools_logger::append_invocation_key("appended", deep.clone());
            tracing::info!(doc = ?Json(deep), "deep field");
            tracing::info!(message = ?Json(deep));
            let span = tracing::info_span!("work", kept = ?Json(deep), big = ?Json(large));
            let _entered = span.enter();
            tracing::info!(doc = ?Json(large), "large field");
            tracing::info!(wrapped = ?Some(Json(large)), "wrapped in another value");
            Ok::<_, Error>(())
        }));
    let _ = service
        .oneshot(event("r", json!({"deep": deep.clone(), "large": large})))
        .with_subscriber(dispatch(&logger))
        .await;
    let lines = json(&captured);
    assert_eq!(lines.len(), 5, "{}", captured.text());
    let text = captured.text();
    assert!(!text.contains("hunter2"), "a redacted value leaked: {text}");
    drop_deep(deep);
}

#[test]
fn values_nested_thousands_deep_do_not_overflow_the_stack() {
    // A thread with an ordinary 2 MiB stack: the library must not recurse as deep as the value.
    let outcome = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut lines = Vec::new();
            for redact in [false, true] {
                let (builder, captured) = builder(&[]);
                let builder = if redact {
                    builder.redact_key("password")
                } else {
                    builder
                };
                let logger = builder.build().unwrap();
                let mut deep = json!({"password": "hunter2"});
                for _ in 0..10_000 {
                    let mut map = serde_json::Map::new();
                    map.insert("next".into(), deep);
                    deep = Value::Object(map);
                }
                tracing::dispatcher::with_default(&dispatch(&logger), || {
                    tracing::info!(doc = ?Json(&deep), "deep field");
                    tracing::info!(message = ?Json(&deep));
                    let span = tracing::info_span!("work", kept = ?Json(&deep));
                    let _entered = span.enter();
                    tracing::info!("in a span with a deep field");
                });
                drop_deep(deep);
                lines.push(captured.text());
            }
            lines
        })
        .map(|thread| thread.join());
    let outputs = outcome
        .expect("the logging thread starts")
        .expect("the logging thread does not fail");
    for text in outputs {
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        for line in text.lines() {
            let parsed: Value = serde_json::from_str(line).unwrap();
            assert!(parsed.is_object(), "{line}");
        }
    }
}

#[tokio::test]
async fn a_line_larger_than_the_buffer_is_written_directly_with_a_warning() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .buffer(BufferConfig::default().max_bytes(600))
        .build()
        .unwrap();
    let service = logger
        .layer()
        .layer(service_fn(|_e: LambdaEvent<Value>| async {
            tracing::debug!("small detail");
            tracing::debug!(dump = "x".repeat(2_000).as_str(), "large detail");
            tracing::info!("visible");
            Ok::<_, Error>(())
        }));
    let _ = service
        .oneshot(event("req-big", json!({})))
        .with_subscriber(dispatch(&logger))
        .await;
    let lines = json(&captured);
    let s = summary(&lines);
    assert_eq!(s.len(), 3, "{}", captured.text());
    assert_eq!(s[0].0, "WARN");
    assert!(s[0].1.contains("larger than the log buffer"), "{}", s[0].1);
    assert_eq!(lines[0]["function_request_id"], "req-big");
    assert_eq!(s[1], ("DEBUG".to_owned(), "large detail".to_owned()));
    assert_eq!(lines[1]["dump"].as_str().map(str::len), Some(2_000));
    // The small line stayed in the buffer, dropped with it at the end of a good invocation.
    assert_eq!(s[2], ("INFO".to_owned(), "visible".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_keys_inside_a_handler_belong_to_that_invocation_only() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    logger.append_persistent_keys([("team", json!("checkout"))]); // every invocation
    let in_handler = logger.clone();
    let service = logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(move |e: LambdaEvent<Value>| {
            let logger = in_handler.clone();
            async move {
                let n = e.payload["n"].as_u64().unwrap_or(0);
                logger.append_keys([("owner", json!(format!("o-{n}")))]);
                for step in 0..4u64 {
                    tracing::info!(step, "working");
                    tokio::time::sleep(Duration::from_micros((n * 37 + step * 11) % 300)).await;
                    if step == 1 && n.is_multiple_of(2) {
                        logger.remove_keys(["owner"]);
                    }
                }
                Ok::<_, Error>(())
            }
        }));
    run_concurrently(&service, &logger, 50).await;
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("after"));
    let lines = json(&captured);
    assert_eq!(lines.len(), 201, "{}", captured.text());
    for line in &lines[..200] {
        let n: u64 = line["function_request_id"]
            .as_str()
            .and_then(|r| r.strip_prefix("req-"))
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(line["team"], "checkout", "{line}");
        let removed = n.is_multiple_of(2) && line["step"].as_u64().is_some_and(|s| s >= 2);
        if removed {
            assert!(line.get("owner").is_none(), "{line}");
        } else {
            assert_eq!(line["owner"], format!("o-{n}"), "{line}");
        }
    }
    let after = &lines[200];
    assert!(
        after.get("owner").is_none(),
        "no invocation key outlives its invocation: {after}"
    );
    assert_eq!(after["team"], "checkout");
}

#[tokio::test]
async fn persistent_keys_are_appended_and_removed_explicitly_for_every_invocation() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    let in_handler = logger.clone();
    let flag = Arc::new(ColdStart::new());
    for n in 0..3u64 {
        let logger_in = in_handler.clone();
        let service = logger
            .layer()
            .with_cold_start_flag(Arc::clone(&flag))
            .layer(service_fn(move |_e: LambdaEvent<Value>| {
                let logger = logger_in.clone();
                async move {
                    if n == 0 {
                        logger.append_persistent_keys([("deployment", json!("blue"))]);
                    }
                    if n == 2 {
                        logger.remove_persistent_keys(["deployment"]);
                    }
                    tracing::info!("line");
                    Ok::<_, Error>(())
                }
            }));
        let _ = service
            .oneshot(event(&format!("r{n}"), json!({})))
            .with_subscriber(dispatch(&logger))
            .await;
    }
    let lines = json(&captured);
    assert_eq!(lines[0]["deployment"], "blue");
    assert_eq!(
        lines[1]["deployment"], "blue",
        "persistent keys outlive the invocation"
    );
    assert!(lines[2].get("deployment").is_none(), "{}", lines[2]);
}

#[tokio::test]
async fn sampling_at_an_intermediate_rate_is_drawn_per_invocation() {
    const INVOCATIONS: usize = 2_000;
    let (builder, captured) = builder(&[]);
    let logger = builder.sample_rate(0.3).build().unwrap();
    let dispatch = dispatch(&logger);
    let flag = Arc::new(ColdStart::new());
    for n in 0..INVOCATIONS {
        let service = logger
            .layer()
            .with_cold_start_flag(Arc::clone(&flag))
            .layer(service_fn(debug_and_info));
        let _ = service
            .oneshot(event(&format!("req-{n}"), json!({})))
            .with_subscriber(dispatch.clone())
            .await;
    }
    let lines = json(&captured);
    // Per invocation, in order: was it sampled (did it write its DEBUG line)?
    let mut sampled = vec![false; INVOCATIONS];
    let mut info_lines = 0;
    for line in &lines {
        let n: usize = line["function_request_id"]
            .as_str()
            .and_then(|r| r.strip_prefix("req-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a request id req-<n>: {line}"));
        assert!(n < INVOCATIONS, "{line}");
        assert_eq!(line["sampling_rate"], 0.3, "{line}");
        match line["level"].as_str() {
            Some("DEBUG") => sampled[n] = true,
            Some("INFO") => info_lines += 1,
            _ => panic!("unexpected line {line}"),
        }
    }
    assert_eq!(
        info_lines, INVOCATIONS,
        "every invocation logs its INFO line"
    );
    let share = sampled.iter().filter(|s| **s).count() as f64 / INVOCATIONS as f64;
    assert!((0.25..=0.35).contains(&share), "sampled share {share}");
    // Independent draws switch between sampled and not about 2 * 0.3 * 0.7 = 42% of the time;
    // a draw kept per process, per thread or in runs would switch far less.
    let switches = sampled.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches > 600,
        "{switches} switches in {INVOCATIONS} invocations"
    );
}

/// A value whose `Debug` panics, as a user's buggy impl might.
struct PanickingDebug;

impl std::fmt::Debug for PanickingDebug {
    #[allow(clippy::panic)] // the impl under test panics on purpose
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::panic::panic_any(String::from("Debug impl failed"))
    }
}

#[test]
fn a_panic_while_formatting_a_line_does_not_silence_the_thread() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || {
        let caught = std::panic::catch_unwind(|| {
            tracing::info!(leftover = "from the failed line", value = ?PanickingDebug, "lost");
        });
        assert!(caught.is_err(), "the Debug impl panics");
        tracing::info!(order_id = "o-7", "written after the panic");
        tracing::info!(order_id = "o-7", "written after the panic");
    });
    let lines = json(&captured);
    assert_eq!(lines.len(), 2, "{}", captured.text());
    for line in &lines {
        assert_eq!(line["message"], "written after the panic");
        assert_eq!(line["order_id"], "o-7");
        assert!(
            line.get("leftover").is_none() && line.get("value").is_none(),
            "nothing of the failed line remains: {line}"
        );
    }
}

#[test]
fn the_logger_keeps_no_fields_of_spans_below_what_it_could_write() {
    let (builder, captured) = builder(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
    let logger = builder.build().unwrap();
    let counting = Counting::default();
    let subscriber = tracing_subscriber::registry()
        .with(logger.tracing_layer())
        .with(counting.clone());
    tracing::subscriber::with_default(subscriber, || {
        let charge = tracing::warn_span!("charge", order_id = "o-1");
        let _charge = charge.enter();
        let stream = tracing::trace_span!("h2 stream", stream_id = 7);
        let _stream = stream.enter();
        let request = tracing::debug_span!("sdk request", attempt = 1);
        let _request = request.enter();
        tracing::warn!("slow");
    });
    assert_eq!(
        counting.spans.load(Ordering::SeqCst),
        3,
        "every span exists for other layers"
    );
    let lines = json(&captured);
    assert_eq!(lines.len(), 1, "{}", captured.text());
    assert_eq!(lines[0]["order_id"], "o-1", "a WARN span lends its fields");
    for field in ["stream_id", "attempt"] {
        assert!(
            lines[0].get(field).is_none(),
            "the logger at WARN keeps nothing of a TRACE or DEBUG span: {}",
            lines[0]
        );
    }
}

/// In a sampled invocation, and for buffered lines, DEBUG spans lend their fields.
#[tokio::test]
async fn debug_spans_lend_their_fields_when_sampling_or_buffering_may_write_debug() {
    async fn spans(e: LambdaEvent<Value>) -> Result<(), Error> {
        let request = tracing::debug_span!("sdk request", attempt = 1);
        let _request = request.enter();
        let stream = tracing::trace_span!("h2 stream", stream_id = 7);
        let _stream = stream.enter();
        tracing::debug!("detail");
        if e.payload["fail"].as_bool() == Some(true) {
            return Err("failed".into());
        }
        Ok(())
    }
    let sampled = {
        let (builder, captured) = builder(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        let logger = builder.sample_rate(1.0).build().unwrap();
        let service = logger.layer().layer(service_fn(spans));
        let _ = service
            .oneshot(event("r-sampled", json!({})))
            .with_subscriber(dispatch(&logger))
            .await;
        json(&captured)
    };
    let buffered = {
        let (builder, captured) = builder(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        let logger = builder.buffer(BufferConfig::default()).build().unwrap();
        let service = logger.layer().layer(service_fn(spans));
        let _ = service
            .oneshot(event("r-buffered", json!({"fail": true})))
            .with_subscriber(dispatch(&logger))
            .await;
        json(&captured)
    };
    for lines in [sampled, buffered] {
        let detail: Vec<&Value> = lines.iter().filter(|l| l["message"] == "detail").collect();
        assert_eq!(detail.len(), 1, "{lines:?}");
        assert_eq!(detail[0]["attempt"], 1, "{}", detail[0]);
        assert!(detail[0].get("stream_id").is_none(), "{}", detail[0]);
    }
}

/// The logger's warnings about lines it moved or lost are written whatever its level.
#[tokio::test]
async fn buffer_warnings_are_written_even_at_level_error() {
    async fn details(_e: LambdaEvent<Value>) -> Result<(), Error> {
        tracing::debug!(step = 1, "first detail");
        tracing::debug!(step = 2, "second detail");
        tracing::debug!(dump = "x".repeat(2_000).as_str(), "large detail");
        Err("handler failed".into())
    }
    let (builder, captured) = builder(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
    let logger = builder
        .buffer(BufferConfig::default().max_bytes(450))
        .build()
        .unwrap();
    let service = logger.layer().layer(service_fn(details));
    let _ = service
        .oneshot(event("req-error-level", json!({})))
        .with_subscriber(dispatch(&logger))
        .await;
    let lines = json(&captured);
    let s = summary(&lines);
    assert_eq!(s.len(), 4, "{}", captured.text());
    assert_eq!(s[0].0, "WARN");
    assert!(s[0].1.contains("larger than the log buffer"), "{}", s[0].1);
    assert_eq!(s[1], ("DEBUG".to_owned(), "large detail".to_owned()));
    assert_eq!(s[2].0, "WARN");
    assert!(
        s[2].1.contains("1 buffered log line(s) were evicted"),
        "{}",
        s[2].1
    );
    assert_eq!(s[3], ("DEBUG".to_owned(), "second detail".to_owned()));
    for line in &lines {
        assert_eq!(line["function_request_id"], "req-error-level", "{line}");
    }
}

#[test]
fn buffered_lines_are_written_after_the_buffer_lock_is_released() {
    // A writer that takes the invocation's buffer lock while a flushed line is written: were
    // the flush to hold that lock while writing, this would deadlock.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let captured = CapturedOutput::new();
        let sink = captured.line_writer();
        let slot = Arc::new(std::sync::OnceLock::<Logger>::new());
        let in_writer = Arc::clone(&slot);
        let writer = LineWriter::from_fn(move |line| {
            if let Some(logger) = in_writer.get() {
                logger.clear_buffer();
            }
            sink.write_line(line)
        });
        let logger = Logger::builder()
            .env(lambda_env([("POWERTOOLS_SERVICE_NAME", "orders")]).with_reporter(|_| {}))
            .writer(writer)
            .buffer(BufferConfig::default())
            .build()
            .unwrap();
        slot.set(logger.clone()).unwrap();
        Invocation::builder("req-lock").build().sync_scope(|| {
            tracing::dispatcher::with_default(&dispatch(&logger), || {
                tracing::debug!("first detail");
                tracing::debug!("second detail");
                tracing::error!("payment failed");
            });
        });
        let _ = done.send(json(&captured));
    });
    let lines = outcome
        .recv_timeout(Duration::from_secs(30))
        .expect("the flush finished (no deadlock on the buffer lock)");
    assert_eq!(
        summary(&lines),
        [
            ("DEBUG".to_owned(), "first detail".to_owned()),
            ("DEBUG".to_owned(), "second detail".to_owned()),
            ("ERROR".to_owned(), "payment failed".to_owned()),
        ]
    );
}

/// A standard key renamed to a name JSON must escape is written escaped (the names are
/// escaped once, when the logger is built, not on every line).
#[test]
fn a_renamed_key_that_needs_escaping_is_written_escaped() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .rename_key("service", "svc \"name\"\n\u{1}")
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(&logger), || tracing::info!("x"));
    let line = &json(&captured)[0];
    assert_eq!(line["svc \"name\"\n\u{1}"], "orders");
    assert!(line.get("service").is_none());
}
