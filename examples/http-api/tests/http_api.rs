//! The deployable binary under the real runtime loop (`lambda_http::run_concurrent` against the
//! local Runtime API), every Powertools layer around the axum router, over DynamoDB Local: the
//! same router answers HTTP API, REST API, ALB and function URL events.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http_api::orders::{NewOrder, Order};
use powertools_testing::{InvocationRequest, LocalFunction, UdpCollector, emf, events, xray};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const HTTP_API: &str = env!("CARGO_BIN_EXE_http-api");
const EXPORT: &str = env!("CARGO_BIN_EXE_http-api-export");

fn event(file: &str) -> Value {
    let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `POST /orders` (HTTP API) with `key` as its `Idempotency-Key` (none for `None`) and `body`.
fn create_event(key: Option<&str>, body: &str) -> events::HttpBuilder {
    let builder = events::api_gateway_http("POST", "/orders")
        .header("content-type", "application/json")
        .header("x-forwarded-proto", "https")
        .body(body)
        .request_id("http-api-create-1");
    match key {
        Some(key) => builder.header("idempotency-key", key),
        None => builder,
    }
}

fn create(key: Option<&str>, body: &str) -> InvocationRequest {
    InvocationRequest::json(&create_event(key, body).build()).unwrap()
}

/// `GET /orders/{id}` through a REST API (`"rest"`) or an ALB (`"alb"`).
fn get(door: &str, id: &str) -> InvocationRequest {
    let path = format!("/orders/{id}");
    let event = match door {
        "rest" => events::api_gateway_rest("GET", &path).path_parameter("/orders/{id}", "id", id),
        _ => events::alb("GET", &path),
    };
    InvocationRequest::json(&event.build()).unwrap()
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// A response's header, whatever the payload format (`headers` or `multiValueHeaders`).
fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"][name]
        .as_str()
        .or_else(|| response["multiValueHeaders"][name][0].as_str())
}

/// Two fresh tables in DynamoDB Local: the orders and the idempotency records.
async fn tables() -> Result<(aws_sdk_dynamodb::Client, String, String), Box<dyn std::error::Error>>
{
    let client = powertools_testing::dynamodb::local_client().await?;
    let orders = powertools_testing::unique_name("http-orders");
    let idempotency = powertools_testing::unique_name("http-idempotency");
    for table in [&orders, &idempotency] {
        powertools_testing::dynamodb::create_table(&client, table, "id", None).await?;
    }
    Ok((client, orders, idempotency))
}

async fn start(
    orders: &str,
    idempotency: &str,
    collector: &UdpCollector,
) -> Result<LocalFunction, Box<dyn std::error::Error>> {
    Ok(LocalFunction::builder(HTTP_API)
        .function_name("http-api")
        .env("POWERTOOLS_SERVICE_NAME", "orders")
        .env("POWERTOOLS_METRICS_NAMESPACE", "HttpApi")
        .env("ORDERS_TABLE_NAME", orders)
        .env("IDEMPOTENCY_TABLE_NAME", idempotency)
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?)
}

#[tokio::test]
async fn an_order_is_created_once_per_key_and_read_back_through_every_trigger() -> TestResult {
    let (client, orders, idempotency) = tables().await?;
    let collector = UdpCollector::start().await?;
    let function = start(&orders, &idempotency, &collector).await?;
    let order = r#"{"customer_id":"c-1","sku":"BOOK-1984","quantity":2}"#;

    let first = function
        .invoke(create(Some("key-1"), order).sampled_trace())
        .await?
        .json()?;
    assert_eq!(first["statusCode"], 201, "{first}");
    let created = body(&first);
    let id = created["order_id"].as_str().unwrap().to_owned();
    assert_eq!(created["sku"], "BOOK-1984");
    let location = format!("/orders/{id}");
    assert_eq!(header(&first, "location"), Some(location.as_str()));

    // The client retries (another request id, the same key and body): the first response,
    // status, headers and body, and no second order.
    let retried = function
        .invoke(create(Some("key-1"), order))
        .await?
        .json()?;
    assert_eq!(retried["statusCode"], 201);
    assert_eq!(body(&retried), created);
    assert_eq!(header(&retried, "location"), Some(location.as_str()));
    let stored = client.scan().table_name(&orders).send().await?;
    assert_eq!(stored.items().len(), 1, "created once");

    // Read back through a REST API and an ALB.
    let rest = function.invoke(get("rest", &id)).await?.json()?;
    assert_eq!(rest["statusCode"], 200, "{rest}");
    assert_eq!(body(&rest), created);
    let alb = function.invoke(get("alb", &id)).await?.json()?;
    assert_eq!(alb["statusCode"], 200, "{alb}");
    assert_eq!(body(&alb), created);
    let unknown = function.invoke(get("rest", "o-unknown")).await?.json()?;
    assert_eq!(unknown["statusCode"], 404);

    // The first request's subsegment: the HTTP block, the route and the status.
    let datagrams = collector.wait_for(1, Duration::from_secs(10)).await;
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| xray::check_datagram(d).unwrap())
        .collect();
    let handler = docs
        .iter()
        .find(|d| d["name"] == "## orders")
        .unwrap_or_else(|| panic!("{docs:#?}"));
    assert_eq!(handler["http"]["request"]["method"], "POST");
    assert_eq!(handler["http"]["response"]["status"], 201);
    assert_eq!(handler["annotations"]["Route"], "POST /orders");
    assert_eq!(handler["annotations"]["ColdStart"], true);

    let stopped = function.stop().await;
    let lines: Vec<Value> = stopped
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let created_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "order created")
        .collect();
    assert_eq!(created_lines.len(), 1, "{lines:#?}");
    assert_eq!(created_lines[0]["correlation_id"], "http-api-create-1");
    assert_eq!(created_lines[0]["service"], "orders");
    assert_eq!(created_lines[0]["cold_start"], true);
    let blobs: Vec<Value> = stopped
        .stdout
        .iter()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| emf::check_blob(l).unwrap())
        .collect();
    let order_blobs: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("OrderCreated").is_some())
        .collect();
    assert_eq!(order_blobs.len(), 1, "measured once: {blobs:#?}");
    assert_eq!(order_blobs[0]["order_id"], id);
    Ok(())
}

#[tokio::test]
async fn idempotency_problems_are_answered_before_the_router_runs() -> TestResult {
    let (client, orders, idempotency) = tables().await?;
    let collector = UdpCollector::start().await?;
    let function = start(&orders, &idempotency, &collector).await?;
    let order = r#"{"customer_id":"c-2","sku":"PEN","quantity":1}"#;

    let missing = function.invoke(create(None, order)).await?.json()?;
    assert_eq!(missing["statusCode"], 400, "{missing}");
    assert_eq!(
        header(&missing, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(body(&missing)["status"], 400);

    let first = function
        .invoke(create(Some("key-2"), order))
        .await?
        .json()?;
    assert_eq!(first["statusCode"], 201);
    let reused = function
        .invoke(create(
            Some("key-2"),
            r#"{"customer_id":"c-2","sku":"PEN","quantity":5}"#,
        ))
        .await?
        .json()?;
    assert_eq!(reused["statusCode"], 422, "{reused}");
    assert_eq!(body(&reused)["status"], 422);

    // A rejected order is not stored: corrected, it is accepted under the same key.
    let invalid = function
        .invoke(create(
            Some("key-3"),
            r#"{"customer_id":"c-3","sku":"PEN","quantity":0}"#,
        ))
        .await?
        .json()?;
    assert_eq!(invalid["statusCode"], 422, "{invalid}");
    let corrected = function
        .invoke(create(
            Some("key-3"),
            r#"{"customer_id":"c-3","sku":"PEN","quantity":1}"#,
        ))
        .await?
        .json()?;
    assert_eq!(corrected["statusCode"], 201, "{corrected}");

    function.stop().await;
    let stored = client.scan().table_name(&orders).send().await?;
    assert_eq!(stored.items().len(), 2, "key-2 and key-3, once each");
    Ok(())
}

#[tokio::test]
async fn queued_requests_keep_their_own_request_and_correlation_ids() -> TestResult {
    let (_, orders, idempotency) = tables().await?;
    let collector = UdpCollector::start().await?;
    let function = start(&orders, &idempotency, &collector).await?;
    let pending: Vec<_> = (0..8)
        .map(|n| {
            let body = format!(r#"{{"customer_id":"c-{n}","sku":"PEN","quantity":1}}"#);
            let event = create_event(Some(&format!("key-c-{n}")), &body)
                .request_id(format!("api-{n}"))
                .build();
            let request = InvocationRequest::json(&event)
                .unwrap()
                .request_id(format!("req-{n}"));
            function.enqueue(request).unwrap()
        })
        .collect();
    for pending in pending {
        let outcome = function.wait(pending).await?.json()?;
        assert_eq!(outcome["statusCode"], 201, "{outcome}");
    }
    let stopped = function.stop().await;
    let created: Vec<Value> = stopped
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "order created")
        .collect();
    assert_eq!(created.len(), 8, "{:?}", stopped.stdout);
    let mut seen: Vec<&str> = Vec::new();
    for line in &created {
        let request_id = line["function_request_id"].as_str().unwrap();
        let n = request_id.strip_prefix("req-").unwrap();
        assert_eq!(line["correlation_id"], format!("api-{n}"), "{line}");
        seen.push(request_id);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 8, "each request logged once: {created:#?}");
    Ok(())
}

#[tokio::test]
async fn the_export_streams_every_order_inside_its_invocation() -> TestResult {
    let (client, orders, _) = tables().await?;
    let mut stored = Vec::new();
    for n in 0..3 {
        let order = Order::accept(NewOrder {
            customer_id: format!("c-{n}"),
            sku: "BOOK-1984".to_owned(),
            quantity: n + 1,
        });
        client
            .put_item()
            .table_name(&orders)
            .set_item(Some(order.to_item()))
            .send()
            .await?;
        stored.push(order);
    }
    let collector = UdpCollector::start().await?;
    let function = LocalFunction::builder(EXPORT)
        .function_name("http-api-export")
        .env("POWERTOOLS_SERVICE_NAME", "orders")
        .env("POWERTOOLS_METRICS_NAMESPACE", "HttpApi")
        .env("ORDERS_TABLE_NAME", &orders)
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?;
    let outcome = function
        .invoke(
            InvocationRequest::json(&event("export-function-url.json"))?
                .request_id("r-export")
                .sampled_trace(),
        )
        .await?;
    let streamed = outcome.streamed().expect("a streamed response");
    assert!(streamed.error.is_none(), "{streamed:?}");
    let prelude = streamed.prelude.as_ref().unwrap();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "application/x-ndjson");
    let mut exported: Vec<Order> = std::str::from_utf8(&streamed.body)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    exported.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    stored.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    assert_eq!(exported, stored);

    let datagrams = collector.wait_for(2, Duration::from_secs(10)).await;
    let stopped = function.stop().await;
    let lines: Vec<Value> = stopped
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let page = lines
        .iter()
        .find(|l| l["message"] == "export page sent")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(
        page["function_request_id"], "r-export",
        "logged while streaming"
    );
    assert_eq!(page["correlation_id"], "function-url-export-1");
    assert_eq!(page["count"], 3);
    let blobs: Vec<Value> = stopped
        .stdout
        .iter()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| emf::check_blob(l).unwrap())
        .collect();
    let exported_blob = blobs
        .iter()
        .find(|b| b.get("OrdersExported").is_some())
        .unwrap_or_else(|| panic!("{blobs:#?}"));
    assert_eq!(exported_blob["OrdersExported"], json!([3.0]));
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| xray::check_datagram(d).unwrap())
        .collect();
    let handler = docs
        .iter()
        .find(|d| d["name"] == "## export")
        .unwrap_or_else(|| panic!("{docs:#?}"));
    assert_eq!(handler["http"]["response"]["status"], 200);
    assert_eq!(
        handler["http"]["response"]["content_length"],
        streamed.body.len()
    );
    assert!(
        docs.iter()
            .any(|d| d["name"] == "DynamoDB" && d["parent_id"] == handler["id"]),
        "the Scan inside the export: {docs:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_table_name_fails_init_with_a_clear_message() -> TestResult {
    let function = LocalFunction::builder(HTTP_API).start().await?;
    let result = function
        .invoke(InvocationRequest::json(&event("export-function-url.json"))?)
        .await;
    let stopped = function.stop().await;
    assert!(result.is_err());
    assert!(
        stopped
            .stderr
            .iter()
            .chain(&stopped.stdout)
            .any(|l| l.contains("ORDERS_TABLE_NAME is not set")),
        "{:?}",
        stopped.stderr
    );
    Ok(())
}

/// The sample events in `events/` (for `sam local invoke` and `cargo lambda invoke`) are
/// answered: the create sample creates, the read samples find no such order.
#[tokio::test]
async fn the_sample_events_are_answered() -> TestResult {
    let (_, orders, idempotency) = tables().await?;
    let collector = UdpCollector::start().await?;
    let function = start(&orders, &idempotency, &collector).await?;
    for (file, status) in [
        ("create-order-http-api.json", 201),
        ("get-order-rest.json", 404),
        ("get-order-alb.json", 404),
    ] {
        let response = function
            .invoke(InvocationRequest::json(&event(file))?)
            .await?
            .json()?;
        assert_eq!(response["statusCode"], status, "{file}: {response}");
    }
    Ok(())
}
