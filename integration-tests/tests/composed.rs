//! Every utility composed as production runs them (`composed-function`): the logger and the
//! X-Ray span layer in one subscriber, the context, metrics, tracer and idempotency layers
//! around the handler, DynamoDB Local and moto behind it, under the real
//! `lambda_runtime::run_concurrent` loop. Sequential and concurrent, success, error and panic,
//! and the log settings production uses (WARN, Lambda's JSON log format).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use integration_tests::{local_endpoint, sdk_config};
use powertools_testing::{InvocationRequest, LocalFunction, Outcome, UdpCollector, emf, xray};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const COMPOSED: &str = env!("CARGO_BIN_EXE_composed-function");

/// A started function with its peers: DynamoDB table, SSM parameter, X-Ray collector.
struct Stack {
    function: LocalFunction,
    collector: UdpCollector,
    table: String,
    dynamodb: aws_sdk_dynamodb::Client,
}

impl Stack {
    async fn start(name: &str, env: &[(&str, &str)]) -> Result<Self, Box<dyn std::error::Error>> {
        local_endpoint("AWS_ENDPOINT_URL_DYNAMODB")?;
        local_endpoint("AWS_ENDPOINT_URL_SSM")?;
        let config = sdk_config().await;
        let unique = format!(
            "{name}-{}-{}",
            std::process::id(),
            powertools_core::random_u64()
        );
        let table = format!("composed-{unique}");
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        integration_tests::create_table(&dynamodb, &table).await?;
        let parameter = format!("/composed/{unique}/greeting");
        aws_sdk_ssm::Client::new(&config)
            .put_parameter()
            .name(&parameter)
            .value("hello from ssm")
            .r#type(ParameterType::String)
            .send()
            .await?;
        let collector = UdpCollector::start().await?;
        let mut builder = LocalFunction::builder(COMPOSED)
            .function_name("composed")
            .max_concurrency(50)
            .env("POWERTOOLS_SERVICE_NAME", "composed-orders")
            .env("IDEMPOTENCY_TABLE_NAME", &table)
            .env("CONFIG_PARAMETER", &parameter)
            .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address());
        for (key, value) in env {
            builder = builder.env(*key, *value);
        }
        Ok(Self {
            function: builder.start().await?,
            collector,
            table,
            dynamodb,
        })
    }

    /// The JSON lines on the function's stdout: log lines and EMF blobs.
    fn lines(&self) -> Vec<Value> {
        self.function
            .stdout_lines()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    fn log_lines(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l.get("_aws").is_none())
            .collect()
    }

    /// Every EMF blob, each checked against the EMF schema and rules.
    fn blobs(&self) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
        Ok(self
            .function
            .stdout_lines()
            .iter()
            .filter(|line| line.contains("\"_aws\""))
            .map(|line| emf::check_blob(line))
            .collect::<Result<_, _>>()?)
    }

    /// The X-Ray documents received, each validated, once `done` holds for them (or after
    /// 20 s, whatever arrived).
    async fn documents(
        &self,
        done: impl Fn(&[Value]) -> bool,
    ) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
        let mut documents = Vec::new();
        for _ in 0..200 {
            documents = self
                .collector
                .datagrams()
                .iter()
                .map(|d| xray::check_datagram(d))
                .collect::<Result<_, _>>()?;
            if done(&documents) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(documents)
    }

    async fn finish(self) -> TestResult {
        self.function.stop().await;
        self.dynamodb
            .delete_table()
            .table_name(&self.table)
            .send()
            .await?;
        Ok(())
    }
}

/// A metric's single value in a blob (written as a number or a one-element array).
fn single_value(value: &Value) -> Option<f64> {
    match value {
        Value::Array(values) if values.len() == 1 => values[0].as_f64(),
        other => other.as_f64(),
    }
}

fn root(n: usize) -> String {
    format!("1-6740a1b2-{n:024x}")
}

fn order(n: usize, extra: Value) -> Result<InvocationRequest, Box<dyn std::error::Error>> {
    let mut event = json!({"order_id": format!("o-{n}"), "n": n, "sleep_ms": 100});
    if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), extra) {
        event.extend(extra);
    }
    Ok(InvocationRequest::json(&event)?
        .request_id(format!("req-{n}-{}", powertools_core::random_u64()))
        .trace_header(format!(
            "Root={};Parent=53995c3f42cd8ad8;Sampled=1",
            root(n)
        )))
}

/// Lambda's advanced logging controls with `AWS_LAMBDA_LOG_FORMAT=JSON`: a line is kept when
/// its `level` (INFO when absent) is at or above the application log level.
fn lambda_keeps(line: &Value, application_level: &str) -> bool {
    let rank = |level: &str| match level.to_ascii_uppercase().as_str() {
        "TRACE" => 0,
        "DEBUG" => 1,
        "INFO" => 2,
        "WARN" | "WARNING" => 3,
        "ERROR" => 4,
        "FATAL" | "CRITICAL" => 5,
        _ => 2,
    };
    rank(line["level"].as_str().unwrap_or("INFO")) >= rank(application_level)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_invocations_never_carry_each_others_ids() -> TestResult {
    let stack = Stack::start("concurrent", &[]).await?;
    const N: usize = 50;
    let tenant = |n: usize| {
        if n.is_multiple_of(2) {
            "tenant-even"
        } else {
            "tenant-odd"
        }
    };

    // First wave: 50 orders at once; second wave: the same 50 again (duplicates, replayed).
    let mut first = Vec::new();
    let mut requests: HashMap<String, (usize, String)> = HashMap::new(); // request id -> (n, root)
    for n in 0..N {
        let request = order(n, json!({}))?.tenant_id(tenant(n));
        requests.insert(request.get_request_id().to_owned(), (n, root(n)));
        first.push(stack.function.enqueue(request)?);
    }
    let mut originals = HashMap::new();
    for pending in first {
        let response = stack.function.wait(pending).await?.json()?;
        originals.insert(
            response["order_id"].as_str().unwrap_or("?").to_owned(),
            response,
        );
    }
    let mut second = Vec::new();
    for n in 0..N {
        let request = order(n, json!({}))?.tenant_id(tenant(n));
        requests.insert(request.get_request_id().to_owned(), (n, root(n)));
        second.push((n, stack.function.enqueue(request)?));
    }
    for (n, pending) in second {
        let replayed = stack.function.wait(pending).await?.json()?;
        let original = originals
            .get(&format!("o-{n}"))
            .cloned()
            .unwrap_or_default();
        // The duplicate gets the first response back, with the first request's id.
        assert_eq!(replayed, original, "order o-{n}");
        let (sent_n, _) = requests
            .get(original["request_id"].as_str().unwrap_or_default())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            sent_n, n,
            "o-{n} was answered with another order's response"
        );
        assert_eq!(original["config"], "hello from ssm");
    }

    // Log lines: each carries the ids of the invocation that wrote it.
    let mut logged_orders = HashSet::new();
    for line in stack.log_lines() {
        let Some(request_id) = line["function_request_id"].as_str() else {
            continue;
        };
        let (n, trace_root) = requests
            .get(request_id)
            .cloned()
            .ok_or_else(|| format!("a line names an unknown request: {line}"))?;
        assert_eq!(line["xray_trace_id"], trace_root, "{line}");
        assert_eq!(line["tenant_id"], tenant(n), "{line}");
        if line.get("order_id").is_some() {
            assert_eq!(line["order_id"], format!("o-{n}"), "{line}");
        }
        if line["message"] == "order saved" {
            logged_orders.insert(n);
        }
    }
    assert_eq!(logged_orders.len(), N, "every order's WARN line is there");

    // EMF: one blob per handled order, with its own value and metadata only.
    let mut measured = HashSet::new();
    for blob in stack.blobs()? {
        if let Some(value) = blob.get("OrderValue") {
            let n =
                single_value(value).ok_or_else(|| format!("one value per blob: {blob}"))? as usize;
            assert_eq!(blob["order_id"], format!("o-{n}"), "{blob}");
            assert_eq!(blob["service"], "composed-orders", "{blob}");
            assert!(measured.insert(n), "order o-{n} measured twice: {blob}");
        }
    }
    assert_eq!(measured.len(), N);

    // X-Ray: a `## handler` per invocation and a `## save_order` per handled order, each in
    // the trace of the invocation it belongs to.
    let named = |docs: &[Value], name: &str| docs.iter().filter(|d| d["name"] == name).count();
    let documents = stack
        .documents(|docs| named(docs, "## save_order") >= N && named(docs, "## handler") >= 2 * N)
        .await?;
    let mut saved = HashSet::new();
    let mut handlers: HashMap<String, usize> = HashMap::new();
    for doc in &documents {
        if doc["name"] == "## save_order" {
            let id = doc["annotations"]["order_id"].as_str().unwrap_or_default();
            let n: usize = id.trim_start_matches("o-").parse()?;
            assert_eq!(doc["trace_id"], root(n), "{doc}");
            saved.insert(n);
        } else if doc["name"] == "## handler" {
            let trace = doc["trace_id"].as_str().unwrap_or_default().to_owned();
            *handlers.entry(trace).or_insert(0) += 1;
        }
    }
    assert_eq!(saved.len(), N);
    // Each order's two invocations (first and duplicate) sent theirs in the order's trace.
    assert_eq!(handlers.len(), N, "{handlers:?}");
    for n in 0..N {
        assert_eq!(handlers.get(&root(n)), Some(&2), "o-{n}: {handlers:?}");
    }

    // Idempotency records: one per order and tenant, all completed, each holding its order.
    let items = stack
        .dynamodb
        .scan()
        .table_name(&stack.table)
        .send()
        .await?
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), N);
    for item in &items {
        let status = item.get("status").and_then(|s| s.as_s().ok());
        assert_eq!(status.map(String::as_str), Some("COMPLETED"), "{item:?}");
        let data: Value = item
            .get("data")
            .and_then(|d| d.as_s().ok())
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let order_id = data["order_id"].as_str().unwrap_or_default();
        assert_eq!(
            originals.get(order_id),
            Some(&data),
            "the record holds its own order's first response"
        );
    }
    stack.finish().await
}

#[tokio::test]
async fn the_logger_at_warn_does_not_starve_the_span_layer() -> TestResult {
    // Without a log buffer, nothing below WARN interests the logger at all.
    let stack = Stack::start(
        "warn",
        &[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("LOG_BUFFER", "off")],
    )
    .await?;
    stack.function.invoke(order(1, json!({}))?).await?.json()?;
    let documents = stack
        .documents(|docs| docs.iter().any(|d| d["name"] == "## save_order"))
        .await?;
    let save = documents
        .iter()
        .find(|d| d["name"] == "## save_order")
        .ok_or_else(|| format!("no ## save_order subsegment at WARN: {documents:#?}"))?;
    assert_eq!(save["annotations"]["order_id"], "o-1");
    assert_eq!(save["trace_id"], root(1));
    let lines = stack.log_lines();
    assert!(
        lines.iter().any(|l| l["message"] == "order saved"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["level"] != "INFO" && l["level"] != "DEBUG"),
        "the logger still prints nothing below WARN: {lines:#?}"
    );
    stack.finish().await
}

#[tokio::test]
async fn a_panicking_or_failing_handler_keeps_its_logs_metrics_and_trace() -> TestResult {
    let stack = Stack::start("panic", &[]).await?;
    for (n, extra) in [
        (7, json!({"panic": true})),
        (8, json!({"fail": "payment declined"})),
    ] {
        let request = order(n, extra)?;
        let request_id = request.get_request_id().to_owned();
        let Outcome::Error(error) = stack.function.invoke(request).await? else {
            return Err(format!("o-{n} did not fail").into());
        };
        if n == 7 {
            assert!(
                error.error_message.contains("order o-7 exploded"),
                "{error:?}"
            );
        }
        let lines: Vec<Value> = stack
            .log_lines()
            .into_iter()
            .filter(|l| l["function_request_id"] == request_id.as_str())
            .collect();
        // The buffered DEBUG line is flushed because the invocation failed.
        assert!(
            lines
                .iter()
                .any(|l| l["step"] == "checked" && l["level"] == "DEBUG"),
            "o-{n}: {lines:#?}"
        );
        if n == 7 {
            assert!(
                lines.iter().any(|l| l["level"] == "ERROR"
                    && l["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("order o-7 exploded")),
                "the panic is logged with the invocation's context: {lines:#?}"
            );
        }
        let blob = stack
            .blobs()?
            .into_iter()
            .find(|b| b["order_id"] == format!("o-{n}"))
            .ok_or_else(|| format!("o-{n}: no EMF blob"))?;
        assert_eq!(single_value(&blob["OrderValue"]), Some(n as f64), "{blob}");
    }
    let documents = stack
        .documents(|docs| docs.iter().filter(|d| d["name"] == "## handler").count() >= 2)
        .await?;
    for n in [7, 8] {
        let handler = documents
            .iter()
            .find(|d| d["name"] == "## handler" && d["trace_id"] == root(n))
            .ok_or_else(|| format!("o-{n}: no handler subsegment: {documents:#?}"))?;
        assert_eq!(handler["fault"], true, "{handler}");
    }
    // The function goes on serving, and the failed orders' idempotency claims are gone: a
    // retry runs the handler again at once (neither replayed nor refused as in progress).
    let next = stack.function.invoke(order(9, json!({}))?).await?.json()?;
    assert_eq!(next["order_id"], "o-9");
    for n in [7, 8] {
        let retry = order(n, json!({}))?;
        let request_id = retry.get_request_id().to_owned();
        let answer = stack.function.invoke(retry).await?.json()?;
        assert_eq!(answer["request_id"], request_id.as_str(), "o-{n} ran again");
    }
    stack.finish().await
}

#[tokio::test]
async fn lambda_json_log_format_at_warn_keeps_every_emf_blob() -> TestResult {
    let stack = Stack::start(
        "json-warn",
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
        ],
    )
    .await?;
    for n in 0..3 {
        stack.function.invoke(order(n, json!({}))?).await?.json()?;
    }
    let blobs = stack.blobs()?;
    // The ColdStart blob and one per order.
    assert_eq!(blobs.len(), 4, "{blobs:#?}");
    for blob in &blobs {
        assert!(
            lambda_keeps(blob, "WARN"),
            "Lambda drops this blob at WARN: {blob}"
        );
    }
    stack.finish().await
}

/// The same function with `OTEL_EXPORTER_OTLP_ENDPOINT` set, and no code changed: each sampled
/// invocation reaches an OTLP/HTTP receiver as one request (it was exported before the
/// invocation returned), with the handler as a `SERVER` span under the X-Ray header's parent,
/// the `## ` span inside it, the idempotency store's DynamoDB calls as `CLIENT` spans, the
/// failed invocation's error status, and nothing for an unsampled one.
#[tokio::test]
async fn over_otlp_the_spans_join_the_xray_trace_with_sdk_calls_as_client_spans() -> TestResult {
    use powertools_testing::otlp::proto::trace::v1::{Span, span, status};
    use powertools_testing::otlp::{OtlpReceiver, attribute, hex};

    let receiver = OtlpReceiver::start()?;
    let stack = Stack::start(
        "otlp",
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url())],
    )
    .await?;
    let ok = stack.function.invoke(order(1, json!({}))?).await?;
    assert!(ok.json().is_ok(), "{ok:?}");
    let failed = stack
        .function
        .invoke(order(2, json!({"fail": "the order store is down"}))?)
        .await?;
    assert!(failed.error().is_some(), "{failed:?}");
    // Unsampled: nothing exported. Its request, if any, would come before the next one's.
    let unsampled = InvocationRequest::json(&json!({"order_id": "o-3", "n": 3}))?.trace_header(
        format!("Root={};Parent=53995c3f42cd8ad8;Sampled=0", root(3)),
    );
    stack.function.invoke(unsampled).await?;
    let last = stack.function.invoke(order(4, json!({}))?).await?;
    assert!(last.json().is_ok(), "{last:?}");

    // Each invocation's request arrived before the invocation returned.
    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        3,
        "one request per sampled invocation: {requests:#?}"
    );
    let resource = requests[0].resource_spans[0]
        .resource
        .clone()
        .unwrap_or_default();
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some(json!("composed-orders"))
    );
    assert_eq!(
        attribute(&resource.attributes, "faas.name"),
        Some(json!("composed"))
    );
    assert_eq!(
        attribute(&resource.attributes, "cloud.provider"),
        Some(json!("aws"))
    );

    let trace = |n: usize| root(n).replace("1-", "").replace('-', "");
    for (request, n) in requests.iter().zip([1, 2, 4]) {
        let spans = OtlpReceiver::spans(std::slice::from_ref(request));
        assert!(
            spans.iter().all(|s| hex(&s.trace_id) == trace(n)),
            "{spans:#?}"
        );
    }
    let spans = OtlpReceiver::spans(&requests[..1]);
    let by_kind = |kind: span::SpanKind| -> Vec<&Span> {
        spans.iter().filter(|s| s.kind == kind as i32).collect()
    };
    let servers = by_kind(span::SpanKind::Server);
    assert_eq!(servers.len(), 1, "{spans:#?}");
    let handler = servers[0];
    assert_eq!(hex(&handler.parent_span_id), "53995c3f42cd8ad8");
    let invocation = attribute(&handler.attributes, "faas.invocation_id").unwrap_or_default();
    assert!(
        invocation
            .as_str()
            .is_some_and(|id| id.starts_with("req-1-")),
        "{invocation}"
    );
    assert_eq!(
        attribute(&handler.attributes, "faas.coldstart"),
        Some(json!(true))
    );
    let save = spans
        .iter()
        .find(|s| s.name == "## save_order")
        .ok_or("no ## save_order")?;
    assert_eq!(save.kind, span::SpanKind::Internal as i32);
    assert_eq!(save.parent_span_id, handler.span_id);
    assert_eq!(attribute(&save.attributes, "order_id"), Some(json!("o-1")));
    let calls = by_kind(span::SpanKind::Client);
    assert!(
        !calls.is_empty(),
        "the idempotency store's calls: {spans:#?}"
    );
    for call in &calls {
        assert!(call.name.starts_with("DynamoDB."), "{call:#?}");
        assert_eq!(
            attribute(&call.attributes, "rpc.system"),
            Some(json!("aws-api"))
        );
        assert_eq!(
            attribute(&call.attributes, "rpc.service"),
            Some(json!("DynamoDB"))
        );
        assert!(
            attribute(&call.attributes, "rpc.method").is_some(),
            "{call:#?}"
        );
        assert!(
            attribute(&call.attributes, "aws.request_id").is_some(),
            "{call:#?}"
        );
        assert_eq!(
            attribute(&call.attributes, "aws.dynamodb.table_names"),
            Some(json!([stack.table]))
        );
        assert_eq!(call.parent_span_id, handler.span_id, "{call:#?}");
    }

    let failed_spans = OtlpReceiver::spans(&requests[1..2]);
    let failed_handler = failed_spans
        .iter()
        .find(|s| s.kind == span::SpanKind::Server as i32)
        .ok_or("no handler span")?;
    let failure = failed_handler.status.clone().unwrap_or_default();
    assert_eq!(failure.code, status::StatusCode::Error as i32);
    assert_eq!(failure.message, "the order store is down");
    assert!(
        stack.collector.datagrams().is_empty(),
        "nothing went to the X-Ray daemon"
    );
    stack.finish().await
}
