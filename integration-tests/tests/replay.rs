//! An idempotent replay inside the full stack: it is the invocation's work for the metrics'
//! empty check, it may be counted as `IdempotentReplay`, and it is logged with the invocation's
//! keys; the library's own warnings reach the logger as lines of the invocation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use powertools_core::ColdStart;
use powertools_idempotency::{Idempotency, InMemoryStore};
use powertools_logger::Logger;
use powertools_metrics::{Metrics, REPLAY_METRIC, Unit};
use powertools_testing::{CapturedOutput, lambda_env, test_event};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

const ENV: [(&str, &str); 3] = [
    ("POWERTOOLS_SERVICE_NAME", "orders"),
    ("POWERTOOLS_METRICS_NAMESPACE", "Orders"),
    ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
];

struct Stack {
    logger: Logger,
    metrics: Metrics,
    idempotency: Idempotency,
    lines: CapturedOutput,
    blobs: CapturedOutput,
}

fn stack(replay_metric: bool) -> Stack {
    let lines = CapturedOutput::new();
    let blobs = CapturedOutput::new();
    let env = || lambda_env(ENV).with_reporter(|_| {});
    let logger = Logger::builder()
        .env(env())
        .writer(lines.line_writer())
        .build()
        .unwrap();
    let metrics = Metrics::builder()
        .env(env())
        .writer(blobs.line_writer())
        .raise_on_empty_metrics(true)
        .idempotent_replay_metric(replay_metric)
        .build()
        .unwrap();
    let idempotency = Idempotency::builder(InMemoryStore::new())
        .env(env())
        .event_key_jmespath("order_id")
        .build()
        .unwrap();
    Stack {
        logger,
        metrics,
        idempotency,
        lines,
        blobs,
    }
}

/// One invocation through logger, metrics and idempotency layers; the handler adds a metric.
async fn invoke(
    stack: &Stack,
    flag: &Arc<ColdStart>,
    request_id: &str,
) -> Result<Value, Diagnostic> {
    let handler_metrics = stack.metrics.clone();
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let metrics = handler_metrics.clone();
        async move {
            metrics.add_metric("OrderCreated", Unit::Count, 1.0)?;
            Ok::<_, Error>(json!({"created": event.payload["order_id"]}))
        }
    });
    let service = stack
        .logger
        .layer()
        .with_cold_start_flag(Arc::clone(flag))
        .layer(
            stack
                .metrics
                .layer()
                .layer(stack.idempotency.layer().layer(handler)),
        );
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(stack.logger.tracing_layer()));
    service
        .oneshot(test_event(request_id, json!({"order_id": "o-1"})))
        .with_subscriber(dispatch)
        .await
        .map_err(Diagnostic::from)
}

fn metric_names(blobs: &CapturedOutput) -> Vec<Vec<String>> {
    powertools_testing::emf::blobs(blobs)
        .unwrap()
        .iter()
        .map(|blob| {
            blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_replay_is_not_an_empty_invocation_and_is_logged_with_its_request_id() {
    let stack = stack(false);
    let flag = Arc::new(ColdStart::new());
    let first = invoke(&stack, &flag, "r-1").await.unwrap();
    let replayed = invoke(&stack, &flag, "r-2")
        .await
        .expect("a replay with raise_on_empty_metrics succeeds");
    assert_eq!(replayed, first);
    let names = metric_names(&stack.blobs);
    assert!(
        names.iter().all(|n| !n.contains(&REPLAY_METRIC.to_owned())),
        "off by default: {names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.contains(&"OrderCreated".to_owned()))
            .count(),
        1,
        "the handler ran once: {names:?}"
    );
    let lines = stack.lines.json_lines().unwrap();
    let replay = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("idempotent replay"))
        })
        .unwrap_or_else(|| panic!("no replay line: {lines:#?}"));
    assert_eq!(replay["function_request_id"], "r-2");
    assert_eq!(replay["level"], "INFO");
    assert!(
        replay["idempotency_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("orders-api.")),
        "{replay}"
    );
}

#[tokio::test]
async fn with_the_replay_metric_a_replayed_invocation_counts_idempotent_replay() {
    let stack = stack(true);
    let flag = Arc::new(ColdStart::new());
    invoke(&stack, &flag, "r-1").await.unwrap();
    invoke(&stack, &flag, "r-2").await.unwrap();
    let blobs = powertools_testing::emf::blobs(&stack.blobs).unwrap();
    let replays: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get(REPLAY_METRIC).is_some())
        .collect();
    assert_eq!(replays.len(), 1, "{blobs:#?}");
    assert_eq!(replays[0][REPLAY_METRIC], json!([1.0]));
    assert!(replays[0].get("OrderCreated").is_none(), "{}", replays[0]);
}

#[tokio::test]
async fn the_library_s_warnings_are_lines_of_the_invocation() {
    let lines = CapturedOutput::new();
    let logger = Logger::builder()
        .env(lambda_env(ENV).with_reporter(|_| {}))
        .writer(lines.line_writer())
        .build()
        .unwrap();
    let metrics = Metrics::builder()
        .env(lambda_env(ENV).with_reporter(|_| {}))
        .writer(CapturedOutput::new().line_writer())
        .build()
        .unwrap();
    // A handler that adds no metric: the metrics flush warns.
    let service = logger.layer().layer(metrics.layer().layer(service_fn(
        |_: LambdaEvent<Value>| async { Ok::<_, Error>(()) },
    )));
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer()));
    service
        .oneshot(test_event("r-warn", json!({})))
        .with_subscriber(dispatch)
        .await
        .unwrap();
    let lines = lines.json_lines().unwrap();
    let warning = lines
        .iter()
        .find(|l| l["level"] == "WARN")
        .unwrap_or_else(|| panic!("no warning line: {lines:#?}"));
    assert_eq!(warning["function_request_id"], "r-warn");
    assert!(
        warning["message"]
            .as_str()
            .is_some_and(|m| m.contains("no metrics were added")),
        "{warning}"
    );
    assert!(
        warning["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("powertools_core")),
        "{warning}"
    );
}
