//! The deployable binary under the real runtime loop, idempotent over DynamoDB Local.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use powertools_testing::{InvocationRequest, LocalFunction};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ORDERS_API: &str = env!("CARGO_BIN_EXE_orders-api");

fn event(file: &str) -> String {
    let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `POST /orders` through the REST API with `body`.
fn create_order(body: &str) -> String {
    powertools_testing::events::api_gateway_rest("POST", "/orders")
        .header("content-type", "application/json")
        .body(body)
        .build()
        .to_string()
}

/// Creates the idempotency table in DynamoDB Local.
async fn create_table(name: &str) -> Result<aws_sdk_dynamodb::Client, Box<dyn std::error::Error>> {
    let client = powertools_testing::dynamodb::local_client().await?;
    powertools_testing::dynamodb::create_table(&client, name, "id", None).await?;
    Ok(client)
}

fn body(response: &Value) -> Value {
    response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_duplicate_request_gets_the_first_order_back() -> TestResult {
    let table = format!("orders-idempotency-{}", std::process::id());
    create_table(&table).await?;
    let function = LocalFunction::builder(ORDERS_API)
        .function_name("orders-api")
        .env("IDEMPOTENCY_TABLE_NAME", &table)
        .start()
        .await?;
    let first = function
        .invoke(InvocationRequest::raw(event("create-order.json")))
        .await?
        .json()?;
    assert_eq!(first["statusCode"], 201);
    let order = body(&first);
    assert!(
        order["order_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("o-")),
        "{order}"
    );
    assert_eq!(order["sku"], "BOOK-1984");

    // Retried by the client: another request id, the same body.
    let retried = function
        .invoke(InvocationRequest::raw(event("create-order.json")))
        .await?
        .json()?;
    assert_eq!(body(&retried), order, "replayed, not created again");

    let other = function
        .invoke(InvocationRequest::raw(create_order(
            r#"{"customer_id":"c-1","sku":"PEN","quantity":1}"#,
        )))
        .await?
        .json()?;
    assert_eq!(other["statusCode"], 201);
    assert_ne!(body(&other)["order_id"], order["order_id"]);

    let malformed = function
        .invoke(InvocationRequest::raw(event("malformed-body.json")))
        .await?
        .json()?;
    assert_eq!(malformed["statusCode"], 400);

    // Only two orders were created: two "order created" log lines.
    let stopped = function.stop().await;
    let created = stopped
        .stdout
        .iter()
        .filter(|l| l.contains("\"order created\""))
        .count();
    assert_eq!(created, 2, "{:?}", stopped.stdout);
    Ok(())
}

#[tokio::test]
async fn a_custom_key_prefix_is_used() -> TestResult {
    let table = format!("orders-prefix-{}", std::process::id());
    let client = create_table(&table).await?;
    let function = LocalFunction::builder(ORDERS_API)
        .env("IDEMPOTENCY_TABLE_NAME", &table)
        .env("IDEMPOTENCY_KEY_PREFIX", "orders-api.app.lambda_handler")
        .start()
        .await?;
    let response = function
        .invoke(InvocationRequest::raw(event("create-order.json")))
        .await?
        .json()?;
    assert_eq!(response["statusCode"], 201);
    let items = client.scan().table_name(&table).send().await?;
    let keys: Vec<String> = items
        .items()
        .iter()
        .filter_map(|i| i.get("id")?.as_s().ok().cloned())
        .collect();
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with("orders-api.app.lambda_handler#"),
        "{keys:?}"
    );
    let status = items.items()[0]
        .get("status")
        .and_then(|v| v.as_s().ok())
        .cloned();
    assert_eq!(status.as_deref(), Some("COMPLETED"));
    Ok(())
}

#[tokio::test]
async fn a_missing_table_name_fails_init_with_a_clear_message() -> TestResult {
    let function = LocalFunction::builder(ORDERS_API).start().await?;
    let result = function
        .invoke(InvocationRequest::raw(event("create-order.json")))
        .await;
    let stopped = function.stop().await;
    assert!(result.is_err());
    assert!(
        stopped
            .stderr
            .iter()
            .any(|l| l.contains("IDEMPOTENCY_TABLE_NAME is not set")),
        "{:?}",
        stopped.stderr
    );
    Ok(())
}
