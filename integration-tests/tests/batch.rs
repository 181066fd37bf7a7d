//! `powertools-batch` composed as users run it: logger, metrics and tracer layers around the
//! batch service, under the real runtime loop (`run_concurrent`), for SQS (standard and FIFO),
//! Kinesis and DynamoDB Streams; records that fail, panic or do not parse; batches run side by
//! side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use powertools_testing::{InvocationRequest, LocalFunction, UdpCollector, emf, events, xray};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BATCH: &str = env!("CARGO_BIN_EXE_batch-function");
const STANDARD: &str = "standard";
const FIFO: &str = "fifo";

async fn start(
    env: &[(&str, &str)],
    collector: &UdpCollector,
) -> Result<LocalFunction, Box<dyn std::error::Error>> {
    let mut builder = LocalFunction::builder(BATCH)
        .function_name("batch")
        .max_concurrency(8)
        .env("POWERTOOLS_SERVICE_NAME", "work")
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address());
    for (key, value) in env {
        builder = builder.env(*key, *value);
    }
    Ok(builder.start().await?)
}

/// An SQS event from the testing kit's fixture: one message per `(message id, group, body)`.
fn sqs(kind: &str, messages: &[(&str, &str, String)]) -> Value {
    let mut builder = events::sqs().queue("work");
    if kind == FIFO {
        builder = builder.fifo();
    }
    for (id, group, body) in messages {
        builder = builder.message_in_group(*id, *group, body.clone());
    }
    builder.build()
}

fn work(id: &str, extra: Value) -> Value {
    let mut work = json!({"id": id, "sleep_ms": 5});
    if let (Some(work), Some(extra)) = (work.as_object_mut(), extra.as_object()) {
        work.extend(extra.clone());
    }
    work
}

fn failed(response: &Value) -> Vec<&str> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_failing_panicking_or_malformed_record_fails_alone_and_the_function_goes_on() -> TestResult
{
    let collector = UdpCollector::start().await?;
    let function = start(&[], &collector).await?;
    let event = sqs(
        STANDARD,
        &[
            ("m-ok", "", work("w-ok", json!({})).to_string()),
            (
                "m-fail",
                "",
                work("w-fail", json!({"fail": "stock exhausted"})).to_string(),
            ),
            (
                "m-panic",
                "",
                work("w-panic", json!({"panic": true})).to_string(),
            ),
            ("m-bad", "", r#"{"sleep_ms": 1}"#.to_owned()),
        ],
    );
    let response = function
        .invoke(
            InvocationRequest::json(&event)?
                .request_id("b-1")
                .sampled_trace(),
        )
        .await?
        .json()?;
    assert_eq!(failed(&response), ["m-fail", "m-panic", "m-bad"]);

    // The process survived the panic: the next batch is served.
    let next = sqs(
        STANDARD,
        &[("m-next", "", work("w-next", json!({})).to_string())],
    );
    let response = function
        .invoke(InvocationRequest::json(&next)?.request_id("b-2"))
        .await?
        .json()?;
    assert_eq!(response, json!({"batchItemFailures": []}));

    // Handler subsegment → a `## record` per message → the handler's own `## work`; the
    // panicked record's subsegment is a fault.
    let datagrams = collector.wait_for(1, Duration::from_secs(10)).await;
    let docs = xray::check_all(&datagrams)?;
    let records = xray::find_named(&docs, "## record");
    assert_eq!(records.len(), 4, "{docs:#?}");
    let panicked = records
        .iter()
        .find(|r| r["annotations"]["record_id"] == "m-panic")
        .unwrap();
    assert!(
        panicked["fault"] == true || panicked["error"] == true,
        "{panicked:#}"
    );
    let ok = records
        .iter()
        .find(|r| r["annotations"]["record_id"] == "m-ok")
        .unwrap();
    assert!(ok.get("fault").is_none_or(|f| f == false), "{ok:#}");

    let stopped = function.stop().await;
    let lines = stopped.json_lines();
    let done: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "record done")
        .collect();
    assert_eq!(done.len(), 2, "{lines:#?}");
    for line in &done {
        let id = line["work_id"].as_str().unwrap().replace("w-", "m-");
        assert_eq!(line["correlation_id"], id, "{line}");
    }
    let reasons: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["message"] == "record failed")
        .map(|l| {
            assert_eq!(l["function_request_id"], "b-1", "{l}");
            (
                l["correlation_id"].as_str().unwrap(),
                l["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let mut reasons = reasons;
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        [
            (
                "m-bad",
                "the SQS body is not a valid `Work`: missing field `id` at line 1 column 15"
            ),
            ("m-fail", "the handler failed: stock exhausted"),
            ("m-panic", "the handler panicked: record w-panic exploded"),
        ]
    );
    let blobs = emf::blobs_in(&stopped.stdout)?;
    let values: f64 = blobs
        .iter()
        .filter_map(|b| b["RecordValue"].as_array())
        .flatten()
        .filter_map(Value::as_f64)
        .sum();
    assert_eq!(
        values, 4.0,
        "the three records that ran, then the next batch: {blobs:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_fifo_batch_stops_at_its_first_failure_and_a_batch_that_all_failed_is_an_error()
-> TestResult {
    let collector = UdpCollector::start().await?;
    let function = start(&[], &collector).await?;
    let event = sqs(
        FIFO,
        &[
            ("f-1", "g", work("w-1", json!({})).to_string()),
            ("f-2", "g", work("w-2", json!({"fail": "no"})).to_string()),
            ("f-3", "h", work("w-3", json!({})).to_string()),
        ],
    );
    let response = function
        .invoke(InvocationRequest::json(&event)?)
        .await?
        .json()?;
    assert_eq!(failed(&response), ["f-2", "f-3"]);

    let all_bad = sqs(
        STANDARD,
        &[("x-1", "", "[]".into()), ("x-2", "", "{}".into())],
    );
    let outcome = function.invoke(InvocationRequest::json(&all_bad)?).await?;
    let error = outcome.error().unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(
        error
            .error_message
            .starts_with("every record of the batch failed (2)"),
        "{error:?}"
    );
    let stopped = function.stop().await;
    let done: Vec<Value> = stopped
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "record done")
        .collect();
    assert_eq!(done.len(), 1, "f-3 never ran: {done:#?}");
    assert_eq!(done[0]["work_id"], "w-1");
    Ok(())
}

fn kinesis(records: &[(&str, Value)]) -> Value {
    let mut builder = events::kinesis();
    for (sequence, data) in records {
        builder = builder.record(*sequence, data.to_string());
    }
    builder.build()
}

fn dynamodb_streams(records: &[(&str, &str, Option<&str>)]) -> Value {
    let mut builder = events::dynamodb_streams().table("work");
    for (sequence, id, fail) in records {
        let mut image = json!({"id": id, "sleep_ms": 1});
        if let Some(fail) = fail {
            image["fail"] = json!(fail);
        }
        builder = builder.insert(*sequence, json!({"id": id}), image);
    }
    builder.build()
}

#[tokio::test]
async fn stream_batches_report_sequence_numbers_and_can_stop_at_the_first_failure() -> TestResult {
    let collector = UdpCollector::start().await?;
    let kinesis_fn = start(&[("BATCH_SOURCE", "kinesis")], &collector).await?;
    let event = kinesis(&[
        ("100", work("k-1", json!({}))),
        ("200", work("k-2", json!({"fail": "no"}))),
        ("300", json!("not an object")),
        ("400", work("k-4", json!({}))),
    ]);
    let response = kinesis_fn
        .invoke(InvocationRequest::json(&event)?)
        .await?
        .json()?;
    assert_eq!(failed(&response), ["200", "300"]);
    kinesis_fn.stop().await;

    let ordered = start(
        &[("BATCH_SOURCE", "kinesis"), ("BATCH_STOP", "1")],
        &collector,
    )
    .await?;
    let response = ordered
        .invoke(InvocationRequest::json(&event)?)
        .await?
        .json()?;
    assert_eq!(failed(&response), ["200", "300", "400"]);
    let stopped = ordered.stop().await;
    let done: Vec<Value> = stopped
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "record done")
        .collect();
    assert_eq!(done.len(), 1, "k-4 never ran: {done:#?}");

    let streams_fn = start(&[("BATCH_SOURCE", "dynamodb")], &collector).await?;
    let event = dynamodb_streams(&[
        ("111", "d-1", None),
        ("222", "d-2", Some("no")),
        ("333", "d-3", None),
    ]);
    let response = streams_fn
        .invoke(InvocationRequest::json(&event)?)
        .await?
        .json()?;
    assert_eq!(failed(&response), ["222"]);
    let stopped = streams_fn.stop().await;
    let mut done: Vec<(String, String)> = stopped
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "record done")
        .map(|l| {
            (
                l["work_id"].as_str().unwrap().to_owned(),
                l["correlation_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    done.sort();
    assert_eq!(
        done,
        [("d-1".into(), "111".into()), ("d-3".into(), "333".into())]
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_batches_keep_their_records_in_their_own_invocation() -> TestResult {
    let collector = UdpCollector::start().await?;
    let function = start(&[], &collector).await?;
    let pending: Vec<_> = (0..4)
        .map(|b| {
            let messages: Vec<(String, String)> = (0..5)
                .map(|r| {
                    let id = format!("b{b}-r{r}");
                    let body = json!({"id": id, "sleep_ms": 10 + 5 * ((b + r) % 3)}).to_string();
                    (id, body)
                })
                .collect();
            let refs: Vec<(&str, &str, String)> = messages
                .iter()
                .map(|(id, body)| (id.as_str(), "", body.clone()))
                .collect();
            let request = InvocationRequest::json(&sqs(STANDARD, &refs))
                .unwrap()
                .request_id(format!("batch-{b}"));
            function.enqueue(request).unwrap()
        })
        .collect();
    for pending in pending {
        let response = function.wait(pending).await?.json()?;
        assert_eq!(response, json!({"batchItemFailures": []}));
    }
    let stopped = function.stop().await;
    let done: Vec<Value> = stopped
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "record done")
        .collect();
    assert_eq!(done.len(), 20);
    for line in &done {
        let id = line["work_id"].as_str().unwrap();
        let batch = &id[1..2];
        assert_eq!(line["correlation_id"], id, "{line}");
        assert_eq!(
            line["function_request_id"],
            format!("batch-{batch}"),
            "{line}"
        );
    }
    let blobs = emf::blobs_in(&stopped.stdout)?;
    let per_invocation: Vec<usize> = blobs
        .iter()
        .filter_map(|b| b["RecordValue"].as_array().map(Vec::len))
        .collect();
    assert_eq!(
        per_invocation,
        [5, 5, 5, 5],
        "one blob per batch: {blobs:#?}"
    );
    Ok(())
}
