//! The deployable binary under the real runtime loop (`lambda_runtime::run` against the local
//! Runtime API), every Powertools layer around the batch handler, idempotent over DynamoDB
//! Local.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use powertools_testing::{InvocationRequest, LocalFunction, UdpCollector, emf, xray};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SQS_BATCH: &str = env!("CARGO_BIN_EXE_sqs-batch");

fn event(file: &str) -> Value {
    let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn message_id(event: &Value, index: usize) -> String {
    event["Records"][index]["messageId"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn failed(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

async fn start(collector: &UdpCollector) -> Result<LocalFunction, Box<dyn std::error::Error>> {
    let client = powertools_testing::dynamodb::local_client().await?;
    let table = powertools_testing::unique_name("sqs-batch-idempotency");
    powertools_testing::dynamodb::create_table(&client, &table, "id", None).await?;
    Ok(LocalFunction::builder(SQS_BATCH)
        .function_name("sqs-batch")
        .env("POWERTOOLS_SERVICE_NAME", "orders")
        .env("POWERTOOLS_METRICS_NAMESPACE", "SqsBatch")
        .env("IDEMPOTENCY_TABLE_NAME", table)
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?)
}

/// The sum of a metric's values in one EMF blob (a number or a list of numbers).
fn total(blob: &Value, metric: &str) -> f64 {
    match &blob[metric] {
        Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
        value => value.as_f64().unwrap_or(0.0),
    }
}

#[tokio::test]
async fn invalid_orders_are_reported_and_every_other_message_is_processed_once() -> TestResult {
    let collector = UdpCollector::start().await?;
    let function = start(&collector).await?;
    let batch = event("orders-batch.json");
    let ids: Vec<String> = (0..6).map(|i| message_id(&batch, i)).collect();

    let first = function
        .invoke(
            InvocationRequest::json(&batch)?
                .request_id("batch-1")
                .sampled_trace(),
        )
        .await?
        .json()?;
    // quantity 0, not JSON, no customer_id.
    assert_eq!(failed(&first), ids[2..5]);

    // SQS delivers the first order again (its visibility timed out) with the last one: both
    // replay, neither runs again.
    let redelivered = json!({"Records": [batch["Records"][0], batch["Records"][5]]});
    let second = function
        .invoke(InvocationRequest::json(&redelivered)?.request_id("batch-2"))
        .await?
        .json()?;
    assert_eq!(second, json!({"batchItemFailures": []}));

    // One subsegment per record, under the handler's, each annotated with its message id.
    let datagrams = collector.wait_for(7, Duration::from_secs(10)).await;
    let docs = xray::check_all(&datagrams)?;
    let records = xray::find_named(&docs, "## record");
    let mut annotated: Vec<&str> = records
        .iter()
        .map(|r| r["annotations"]["record_id"].as_str().unwrap())
        .collect();
    annotated.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(annotated, expected, "{docs:#?}");
    assert!(
        docs.iter().any(|d| d["name"] == "## orders_batch"),
        "{docs:#?}"
    );

    let stopped = function.stop().await;
    let lines = stopped.json_lines();
    let processed = stopped.lines_with_message("order processed");
    let mut orders: Vec<&str> = processed
        .iter()
        .map(|l| l["order_id"].as_str().unwrap())
        .collect();
    orders.sort_unstable();
    assert_eq!(orders, ["o-1", "o-2", "o-6"], "once each: {lines:#?}");
    for line in &processed {
        let index = match line["order_id"].as_str().unwrap() {
            "o-1" => 0,
            "o-2" => 1,
            _ => 5,
        };
        assert_eq!(line["correlation_id"], ids[index], "{line}");
        assert_eq!(line["function_request_id"], "batch-1");
        assert_eq!(line["service"], "orders");
    }
    let failures = stopped.lines_with_message("record failed");
    assert_eq!(failures.len(), 3, "{lines:#?}");
    for line in &failures {
        assert_eq!(line["level"], "ERROR");
        let reason = line["reason"].as_str().unwrap();
        assert!(reason.contains("is not a valid `Order`"), "{reason}");
        assert!(!reason.contains("this is not json"), "{reason}");
        assert_eq!(line["correlation_id"], line["record_id"], "{line}");
    }

    let blobs = emf::blobs_in(&stopped.stdout)?;
    // The records' metrics land in their invocation's blob; the replayed batch measured none.
    let measured: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("OrderProcessed").is_some())
        .collect();
    assert_eq!(measured.len(), 1, "{blobs:#?}");
    assert_eq!(total(measured[0], "OrderProcessed"), 3.0, "{blobs:#?}");
    assert_eq!(total(measured[0], "UnitsOrdered"), 8.0);
    Ok(())
}

#[tokio::test]
async fn a_batch_of_invalid_orders_fails_and_an_empty_batch_succeeds() -> TestResult {
    let collector = UdpCollector::start().await?;
    let function = start(&collector).await?;
    let invalid = event("invalid-batch.json");
    let outcome = function.invoke(InvocationRequest::json(&invalid)?).await?;
    let error = outcome.error().unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(
        error
            .error_message
            .starts_with("every record of the batch failed (2)"),
        "{error:?}"
    );
    assert!(error.error_message.contains(&message_id(&invalid, 0)));

    let empty = function
        .invoke(InvocationRequest::json(&event("empty-batch.json"))?)
        .await?
        .json()?;
    assert_eq!(empty, json!({"batchItemFailures": []}));
    function.stop().await;
    Ok(())
}
