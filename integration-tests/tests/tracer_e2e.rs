//! The traced function under the real runtime loop: datagrams on a real UDP socket, a real
//! DynamoDB call to DynamoDB Local recorded by the SDK interceptor.

use std::time::Duration;

use integration_tests::{local_endpoint, sdk_config};
use powertools_testing::{InvocationRequest, LocalFunction, UdpCollector, xray};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TRACED: &str = env!("CARGO_BIN_EXE_traced-function");
const ROOT: &str = "1-6740a1b2-0123456789abcdef01234567";
const PARENT: &str = "53995c3f42cd8ad8";

#[tokio::test]
async fn handler_span_and_dynamodb_call_chain_in_one_trace() -> TestResult {
    local_endpoint("AWS_ENDPOINT_URL_DYNAMODB")?;
    let table = format!("traced-orders-{}", std::process::id());
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    integration_tests::create_table(&client, &table).await?;

    let collector = UdpCollector::start().await?;
    let function = LocalFunction::builder(TRACED)
        .function_name("traced-orders")
        .env("POWERTOOLS_SERVICE_NAME", "orders")
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?;

    // Not sampled: nothing is sent.
    let unsampled = InvocationRequest::json(&json!({"table": table, "order_id": "o-0"}))?
        .trace_header(format!("Root={ROOT};Parent={PARENT};Sampled=0"));
    assert_eq!(function.invoke(unsampled).await?.json()?["saved"], "o-0");

    let sampled = InvocationRequest::json(&json!({"table": table, "order_id": "o-1"}))?
        .trace_header(format!("Root={ROOT};Parent={PARENT};Sampled=1"));
    assert_eq!(function.invoke(sampled).await?.json()?["saved"], "o-1");

    let datagrams = collector.wait_for(3, Duration::from_secs(10)).await;
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| xray::check_datagram(d))
        .collect::<Result<_, _>>()?;
    assert_eq!(docs.len(), 3, "{docs:#?}");
    let find = |name: &str| {
        docs.iter()
            .find(|d| d["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let handler = find("## handler");
    let save = find("## save_order");
    let dynamodb = find("DynamoDB");
    for doc in [&handler, &save, &dynamodb] {
        assert_eq!(doc["trace_id"], ROOT, "{doc}");
    }
    assert_eq!(handler["parent_id"], PARENT);
    // The unsampled invocation before it was the cold start.
    assert_eq!(handler["annotations"]["ColdStart"], false);
    assert_eq!(handler["annotations"]["Service"], "orders");
    assert_eq!(save["parent_id"], handler["id"]);
    assert_eq!(save["annotations"]["order_id"], "o-1");
    assert_eq!(dynamodb["parent_id"], save["id"]);
    assert_eq!(dynamodb["namespace"], "aws");
    assert_eq!(dynamodb["aws"]["operation"], "PutItem");
    assert_eq!(dynamodb["aws"]["table_name"], table);
    assert_eq!(dynamodb["aws"]["region"], "us-east-1");
    assert!(
        dynamodb["aws"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{dynamodb}"
    );
    assert_eq!(dynamodb["http"]["response"]["status"], 200);

    // The item really was written, twice.
    let count = client.scan().table_name(&table).send().await?.count();
    assert_eq!(count, 2);
    client.delete_table().table_name(&table).send().await?;
    Ok(())
}

#[tokio::test]
async fn a_failed_sdk_call_marks_its_subsegment() -> TestResult {
    local_endpoint("AWS_ENDPOINT_URL_DYNAMODB")?;
    let collector = UdpCollector::start().await?;
    let function = LocalFunction::builder(TRACED)
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?;
    let request = InvocationRequest::json(&json!({"table": "no-such-table", "order_id": "o-9"}))?
        .trace_header(format!("Root={ROOT};Parent={PARENT};Sampled=1"));
    let outcome = function.invoke(request).await?;
    assert!(outcome.error().is_some(), "{outcome:?}");
    let datagrams = collector.wait_for(3, Duration::from_secs(10)).await;
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| xray::check_datagram(d))
        .collect::<Result<_, _>>()?;
    let dynamodb = docs
        .iter()
        .find(|d| d["name"] == "DynamoDB")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        dynamodb["error"], true,
        "ResourceNotFoundException is a 400: {dynamodb}"
    );
    assert_eq!(dynamodb["http"]["response"]["status"], 400);
    assert!(
        dynamodb["cause"]["exceptions"][0]["message"]
            .as_str()
            .is_some()
    );
    let handler = docs
        .iter()
        .find(|d| d["name"] == "## handler")
        .cloned()
        .unwrap_or_default();
    assert_eq!(handler["fault"], true);
    Ok(())
}
