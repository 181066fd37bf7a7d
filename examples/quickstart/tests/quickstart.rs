//! The quickstart, as a user runs it and as Lambda runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use powertools_testing::{HarnessError, InvocationRequest, LocalFunction};
use serde_json::{Value, json};

const QUICKSTART: &str = env!("CARGO_BIN_EXE_quickstart");

fn bundled(name: &str) -> String {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn with_otlp_the_built_in_receiver_prints_each_span() {
    let output = Command::new(QUICKSTART)
        .arg("--otlp")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .expect("could not run the quickstart");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "quickstart failed:\n{stderr}");
    assert!(stderr.contains("4 events sent, 4 answered"), "{stderr}");
    let spans: Vec<&str> = stderr
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("otlp: "))
        .collect();
    let handlers: Vec<&&str> = spans
        .iter()
        .filter(|l| l.starts_with("otlp: SERVER ## handler "))
        .collect();
    assert_eq!(handlers.len(), 4, "{stderr}");
    assert!(
        handlers
            .iter()
            .all(|l| l.contains("\"faas.trigger\":\"other\"") && l.contains("faas.invocation_id")),
        "{handlers:?}"
    );
    assert_eq!(
        handlers
            .iter()
            .filter(|l| l.contains("\"faas.coldstart\":true"))
            .count(),
        1,
        "{handlers:?}"
    );
    assert_eq!(
        spans
            .iter()
            .filter(|l| l.starts_with("otlp: INTERNAL ## save_order "))
            .count(),
        2,
        "{stderr}"
    );
    // Over OTLP, nothing went to X-Ray.
    assert!(!stderr.contains("x-ray: "), "{stderr}");
}

#[test]
fn cargo_run_answers_every_bundled_event() {
    let output = Command::new(QUICKSTART)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("could not run the quickstart");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "quickstart failed:\n{stderr}");
    let answers: Vec<&str> = stderr.lines().filter(|l| l.starts_with("<- ")).collect();
    assert_eq!(answers.len(), 4, "{stderr}");
    assert!(
        answers[..3].iter().all(|a| a.starts_with("<- 201 ")),
        "{answers:?}"
    );
    // The duplicate order is replayed, not created again.
    assert_eq!(answers[0], answers[1], "{answers:?}");
    assert!(answers[2].contains("o-1002"), "{answers:?}");
    assert!(
        answers[3].starts_with("<- 400 ") && answers[3].contains("not a valid order"),
        "{answers:?}"
    );
    assert!(stderr.contains("4 events sent, 4 answered"), "{stderr}");
    // The built-in X-Ray collector's summaries: a handler subsegment per event, a save per order.
    let xray: Vec<&str> = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("x-ray: "))
        .collect();
    assert_eq!(
        xray.iter().filter(|l| l.contains("## handler")).count(),
        4,
        "{stderr}"
    );
    assert_eq!(
        xray.iter().filter(|l| l.contains("## save_order")).count(),
        2,
        "{stderr}"
    );

    // stdout is what CloudWatch would capture: one JSON object per line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let accepted: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "order accepted")
        .collect();
    let rejected: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "order rejected")
        .collect();
    assert_eq!((accepted.len(), rejected.len()), (2, 1), "{stdout}");
    // Parameters: the feature flag reaches the response, the secret never reaches stdout.
    assert!(
        answers[0].contains("\"express_shipping\":true"),
        "{answers:?}"
    );
    assert!(stdout.contains("Secret(*****)"), "{stdout}");
    assert!(
        !stdout.contains("sk_test_quickstart_only") && !stderr.contains("sk_test_quickstart_only")
    );
    // EMF blobs: one ColdStart, one per order run (count, latency, order id), one rejection;
    // each valid against the EMF schema and its cross-field rules.
    for line in stdout.lines().filter(|l| l.contains("\"_aws\"")) {
        if let Err(e) = powertools_testing::emf::check_blob(line) {
            panic!("{e}");
        }
    }
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    let cold: Vec<&&Value> = emf
        .iter()
        .filter(|b| b.get("ColdStart").is_some())
        .collect();
    let orders: Vec<&&Value> = emf
        .iter()
        .filter(|b| b.get("OrderAccepted").is_some())
        .collect();
    assert_eq!(cold.len(), 1, "{stdout}");
    assert_eq!(cold[0]["function_name"], "quickstart-orders");
    assert_eq!(
        orders.len(),
        2,
        "the replayed duplicate adds no metric: {stdout}"
    );
    assert_eq!(orders[0]["OrderAccepted"], serde_json::json!([1.0]));
    assert_eq!(orders[0]["order_id"], "o-1001");
    assert_eq!(orders[1]["order_id"], "o-1002");
    assert_eq!(orders[0]["service"], "orders");
    let latency = orders[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|d| d["Name"] == "OrderLatency").cloned())
        .unwrap_or_default();
    assert_eq!(latency["Unit"], "Milliseconds");
    assert_eq!(latency["StorageResolution"], 1);
    assert_eq!(
        emf.iter()
            .filter(|b| b.get("OrderRejected").is_some())
            .count(),
        1
    );
    assert_eq!(accepted[0]["cold_start"], true);
    assert_eq!(accepted[1]["cold_start"], false);
    assert_eq!(accepted[1]["order_id"], "o-1002");
    assert_eq!(
        accepted[0]["correlation_id"],
        "7f8e3c1a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    );
    assert_eq!(accepted[0]["service"], "orders");
    assert_eq!(accepted[0]["customer_id"], "c-42");
    assert_eq!(accepted[0]["quantity"], 2);
    assert_eq!(rejected[0]["level"], "WARN");
    assert_eq!(rejected[0]["status"], 400);
}

#[tokio::test]
async fn the_function_answers_api_gateway_events() -> Result<(), HarnessError> {
    let function = LocalFunction::builder(QUICKSTART)
        .function_name("orders")
        .start()
        .await?;
    let mut answers = Vec::new();
    for name in [
        "01-create-order.json",
        "02-create-order-again.json",
        "03-create-another-order.json",
        "04-malformed-body.json",
    ] {
        let response = function
            .invoke(InvocationRequest::raw(bundled(name)))
            .await?
            .json()?;
        let body: Value = response["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        assert_eq!(response["headers"]["content-type"], "application/json");
        answers.push((response["statusCode"].clone(), body));
    }
    assert_eq!(answers[0].0, 201);
    assert_eq!(answers[0].1["order"]["sku"], "BOOK-1984");
    assert_eq!(answers[0].1["order"]["quantity"], 2);
    assert_eq!(answers[0].1["cold_start"], true);
    // The duplicate is a replay of the first response.
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[2].1["order"]["customer_id"], "c-7");
    assert_eq!(answers[3].0, 400);
    assert!(
        answers[3].1["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("request body is not a valid order")),
        "{:?}",
        answers[3]
    );

    let stopped = function.stop().await;
    for line in stopped.stdout.iter().filter(|l| l.contains("\"_aws\"")) {
        powertools_testing::emf::check_blob(line)?;
    }
    let lines: Vec<Value> = stopped
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        lines.len(),
        stopped.stdout.len(),
        "every stdout line is JSON: {:?}",
        stopped.stdout
    );
    let accepted: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "order accepted")
        .collect();
    assert_eq!(accepted.len(), 2, "the duplicate was replayed, not run");
    assert_eq!(accepted[0]["function_name"], "orders");
    assert_eq!(accepted[0]["function_memory_size"], 128);
    assert_eq!(accepted[0]["sku"], "BOOK-1984");
    // No DEBUG at the default level.
    assert!(lines.iter().all(|l| l["level"] != "DEBUG"));
    Ok(())
}

#[tokio::test]
async fn the_function_sends_xray_subsegments_for_sampled_requests() -> Result<(), HarnessError> {
    let collector = powertools_testing::UdpCollector::start().await?;
    let function = LocalFunction::builder(QUICKSTART)
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?;
    let request = InvocationRequest::raw(bundled("01-create-order.json"))
        .trace_header("Root=1-6740a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1");
    assert_eq!(function.invoke(request).await?.json()?["statusCode"], 201);
    let datagrams = collector
        .wait_for(2, std::time::Duration::from_secs(5))
        .await;
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| powertools_testing::xray::check_datagram(d))
        .collect::<Result<_, _>>()?;
    let handler = docs
        .iter()
        .find(|d| d["name"] == "## handler")
        .cloned()
        .unwrap_or_default();
    let save = docs
        .iter()
        .find(|d| d["name"] == "## save_order")
        .cloned()
        .unwrap_or_default();
    assert_eq!(handler["parent_id"], "53995c3f42cd8ad8");
    assert_eq!(handler["annotations"]["customer_id"], "c-42");
    assert_eq!(save["parent_id"], handler["id"]);
    assert_eq!(save["annotations"]["order_id"], "o-1001");
    Ok(())
}

#[tokio::test]
async fn other_methods_are_refused() -> Result<(), HarnessError> {
    let function = LocalFunction::builder(QUICKSTART).start().await?;
    let event = powertools_testing::events::api_gateway_rest("DELETE", "/orders")
        .json_body(&json!({"order_id": "o-1001", "customer_id": "c-42"}))
        .build();
    let response = function
        .invoke(InvocationRequest::json(&event)?)
        .await?
        .json()?;
    assert_eq!(response["statusCode"], 405);
    Ok(())
}
