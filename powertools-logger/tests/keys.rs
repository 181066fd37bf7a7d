//! `Logger::append_keys` at INIT and outside the invocation scope after INIT, in one process.
//!
//! The process-wide INIT flag is taken by the first invocation, so this binary holds a single
//! test: it starts at INIT and then serves invocations, as a function does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_logger::Logger;
use powertools_testing::{CapturedOutput, ManualClock, lambda_env};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

const LEAKED: [&str; 3] = ["leaked_task", "leaked_blocking", "leaked_thread"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_keys_is_process_wide_at_init_and_adds_nothing_outside_an_invocation_after() {
    assert!(
        !powertools_core::is_initialized(),
        "the test starts at INIT"
    );
    let captured = CapturedOutput::new();
    let logger = Logger::builder()
        .env(lambda_env([("AWS_LAMBDA_FUNCTION_NAME", "orders-api")]).with_reporter(|_| {}))
        .writer(captured.line_writer())
        .clock(ManualClock::at_epoch_millis(1_795_268_547_000).clock())
        .build()
        .unwrap();
    // At INIT there is no invocation: the keys are every invocation's.
    logger.append_keys([("team", json!("checkout")), ("stage", json!("prod"))]);

    let in_handler = logger.clone();
    let service = logger
        .layer()
        .layer(service_fn(move |e: LambdaEvent<Value>| {
            let logger = in_handler.clone();
            async move {
                if e.payload["first"] == true {
                    logger.append_keys([("owner", json!("o-1"))]);
                    // Outside the invocation's scope, after INIT: nothing is added or removed.
                    let l = logger.clone();
                    let _ = tokio::spawn(async move {
                        l.append_keys([("leaked_task", json!(1))]);
                        l.remove_keys(["stage"]);
                    })
                    .await;
                    let l = logger.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        l.append_keys([("leaked_blocking", json!(1))]);
                    })
                    .await;
                    let l = logger.clone();
                    let _ = std::thread::spawn(move || {
                        l.append_keys([("leaked_thread", json!(1))]);
                    })
                    .join();
                    // Spawned inside the scope: the invocation's own key.
                    let l = logger.clone();
                    let _ = powertools_core::spawn(async move {
                        l.append_keys([("scoped_task", json!(1))]);
                    })
                    .await;
                }
                tracing::info!("line");
                Ok::<_, Error>(())
            }
        }));
    let dispatch =
        || tracing::Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer()));
    for (request_id, first) in [("r-1", true), ("r-2", false)] {
        let mut event = powertools_testing::test_event(request_id, json!({ "first": first }));
        event.context.invoked_function_arn = "arn:aws:lambda:eu-west-1:1:function:f".to_owned();
        let _ = service
            .clone()
            .oneshot(event)
            .with_subscriber(dispatch())
            .await;
    }
    assert!(powertools_core::is_initialized());

    let lines = captured
        .json_lines()
        .unwrap_or_else(|e| panic!("{e}: {}", captured.text()));
    assert_eq!(lines.len(), 2, "{}", captured.text());
    for line in &lines {
        assert_eq!(line["team"], "checkout", "{line}");
        assert_eq!(
            line["stage"], "prod",
            "not removed from a spawned task: {line}"
        );
        for key in LEAKED {
            assert!(line.get(key).is_none(), "{key} leaked: {line}");
        }
    }
    assert_eq!(lines[0]["function_request_id"], "r-1");
    assert_eq!(lines[0]["owner"], "o-1");
    assert_eq!(lines[0]["scoped_task"], 1);
    assert!(lines[1].get("owner").is_none(), "{}", lines[1]);
    assert!(lines[1].get("scoped_task").is_none(), "{}", lines[1]);
}
