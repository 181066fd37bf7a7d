//! The deployable binary under the real runtime loop against DynamoDB Local: an event delivered
//! again (a retry, a duplicate from EventBridge) replays; an invalid order fails every time (what
//! Lambda retries, then sends to the on-failure destination).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use powertools_testing::{InvocationRequest, LocalFunction, emf, events};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ASYNC_ORDERS: &str = env!("CARGO_BIN_EXE_async-orders");

async fn start() -> Result<LocalFunction, Box<dyn std::error::Error>> {
    let client = powertools_testing::dynamodb::local_client().await?;
    let table = powertools_testing::unique_name("async-orders");
    powertools_testing::dynamodb::create_table(&client, &table, "id", None).await?;
    Ok(LocalFunction::builder(ASYNC_ORDERS)
        .function_name("async-orders")
        .env("POWERTOOLS_SERVICE_NAME", "orders")
        .env("IDEMPOTENCY_TABLE_NAME", table)
        .start()
        .await?)
}

/// An `OrderPlaced` event with id `id` for `detail`.
fn order_placed(id: &str, detail: Value) -> Value {
    let mut event = events::eventbridge("OrderPlaced", "shop.orders", detail);
    event["id"] = json!(id);
    event
}

#[tokio::test]
async fn an_event_delivered_again_replays_and_an_invalid_one_fails_every_time() -> TestResult {
    let function = start().await?;
    let order = json!({"order_id": "o-1", "customer_id": "c-1", "sku": "BOOK-1984", "quantity": 2});
    let event = order_placed("evt-1", order);

    let first = function
        .invoke(InvocationRequest::json(&event)?.request_id("try-1"))
        .await?
        .json()?;
    assert_eq!(first, json!({"order_id": "o-1", "units": 2}));
    // Lambda's retry (or EventBridge's duplicate): another request, the same event id.
    let again = function
        .invoke(InvocationRequest::json(&event)?.request_id("try-2"))
        .await?
        .json()?;
    assert_eq!(again, first);

    let invalid = order_placed(
        "evt-2",
        json!({"order_id": "o-2", "customer_id": "c-2", "sku": "PEN", "quantity": 0}),
    );
    for attempt in ["bad-1", "bad-2", "bad-3"] {
        let outcome = function
            .invoke(InvocationRequest::json(&invalid)?.request_id(attempt))
            .await?;
        let error = outcome.error().unwrap_or_else(|| panic!("{outcome:?}"));
        assert!(
            error.error_message.contains("is not a valid order"),
            "{error:?}"
        );
        assert!(!error.error_message.contains("PEN"), "no input in errors");
    }

    let stopped = function.stop().await;
    let fulfilled = stopped.lines_with_message("order fulfilled");
    assert_eq!(fulfilled.len(), 1, "once: {:#?}", stopped.json_lines());
    assert_eq!(fulfilled[0]["correlation_id"], "evt-1");
    assert_eq!(fulfilled[0]["function_request_id"], "try-1");
    let blobs = emf::blobs_in(&stopped.stdout)?;
    let measured: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("OrderFulfilled").is_some())
        .collect();
    assert_eq!(measured.len(), 1, "{blobs:#?}");
    Ok(())
}

/// The sample events in `events/` (for `sam local invoke` and `cargo lambda invoke`): the placed
/// order is fulfilled, the invalid one fails.
#[tokio::test]
async fn the_sample_events_are_answered() -> TestResult {
    let function = start().await?;
    let sample = |file: &str| -> Result<Value, Box<dyn std::error::Error>> {
        let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
        Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
    };
    let placed = function
        .invoke(InvocationRequest::json(&sample("order-placed.json")?)?)
        .await?
        .json()?;
    assert_eq!(placed, json!({"order_id": "o-1", "units": 2}));
    let invalid = function
        .invoke(InvocationRequest::json(&sample("invalid-order.json")?)?)
        .await?;
    assert!(invalid.error().is_some(), "{invalid:?}");
    Ok(())
}
