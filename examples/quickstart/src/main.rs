//! The quickstart: an orders API handler using Powertools for AWS Lambda in Rust.
//!
//! `cargo run -p quickstart` plays Lambda: it starts a local Runtime API, runs this same binary
//! as the function (under the real `lambda_runtime` loop), sends it the bundled API Gateway
//! events from `events/`, and narrates on stderr. stdout carries exactly what Lambda would
//! capture from the function.
//!
//! With `AWS_LAMBDA_RUNTIME_API` set (in Lambda, or under `cargo lambda watch`) the binary is
//! the function itself.
//!
//! Traces go to X-Ray over UDP, a one-line summary per subsegment on stderr; with `--otlp`
//! (`cargo run -p quickstart -- --otlp`) they go over OpenTelemetry (OTLP/HTTP) instead, to a
//! built-in receiver that prints a one-line summary per span, as the ADOT collector extension
//! would receive them in Lambda.

use std::process::ExitCode;

use lambda_runtime::service_fn;
use powertools_idempotency::{Idempotency, InMemoryStore};
use powertools_logger::{CorrelationPath, Logger};
use powertools_metrics::Metrics;
use powertools_params::{InMemoryProvider, Parameters};
use powertools_testing::otlp::{OtlpReceiver, attribute, hex};
use powertools_testing::{InvocationRequest, LocalFunction, Outcome, Output, UdpCollector};
use powertools_tracer::Tracer;
use serde_json::Value;
use tower::ServiceBuilder;

mod orders;

/// The bundled events, in the order they are sent.
const EVENTS: [(&str, &str); 4] = [
    (
        "01-create-order.json",
        include_str!("../events/01-create-order.json"),
    ),
    (
        "02-create-order-again.json",
        include_str!("../events/02-create-order-again.json"),
    ),
    (
        "03-create-another-order.json",
        include_str!("../events/03-create-another-order.json"),
    ),
    (
        "04-malformed-body.json",
        include_str!("../events/04-malformed-body.json"),
    ),
];

#[tokio::main]
async fn main() -> ExitCode {
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        run_function().await
    } else {
        play_lambda().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The function, as deployed.
async fn run_function() -> Result<(), lambda_runtime::Error> {
    // INIT: configuration from the environment; nothing slow, nothing networked.
    let logger = Logger::builder()
        .correlation_id_path(CorrelationPath::ApiGatewayRest)
        .redact_key("authorization")
        .build()?;
    // To AWS_XRAY_DAEMON_ADDRESS, or over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; off
    // when not sampled.
    let tracer = Tracer::from_env();
    // The subscriber: the logger's lines and the tracer's `## ` spans, each with its own filter.
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "Quickstart".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;
    // Embedded default: an in-memory store (DynamoDbStore in a deployed function, see
    // examples/orders-api). The key is the request body: a duplicate order is replayed.
    let idempotency = Idempotency::builder(InMemoryStore::new())
        .event_key_jmespath("powertools_json(body)")
        .build()?;
    // Embedded default: an in-memory provider (SsmProvider, SecretsProvider or
    // AppConfigProvider in a deployed function), behind the same 5-second cache.
    let provider = InMemoryProvider::new();
    provider.set(
        "/orders/feature-flags.json",
        r#"{"express_shipping": true}"#,
    );
    provider.set("/orders/payment-api-key", "sk_test_quickstart_only");
    let deps = orders::Deps {
        metrics: metrics.clone(),
        tracer: tracer.clone(),
        parameters: Parameters::builder(provider).build()?,
    };
    let service = ServiceBuilder::new()
        .layer(logger.layer()) // the invocation scope, correlation id, log buffer
        .layer(metrics.layer()) // ColdStart metric; EMF flushed after every invocation
        .layer(tracer.layer()) // the ## handler subsegment
        .layer(idempotency.layer()) // innermost: a replay is still logged, measured, traced
        .service(service_fn(move |event| {
            orders::handler(deps.clone(), event)
        }));
    lambda_runtime::run_concurrent(service).await
}

/// Plays Lambda locally: runs this binary as the function and sends it the bundled events.
async fn play_lambda() -> Result<(), lambda_runtime::Error> {
    let mut builder = LocalFunction::builder(std::env::current_exe()?)
        .function_name("quickstart-orders")
        .memory_size_mb(256)
        .stdout(Output::Inherit)
        .stderr(Output::Inherit);
    if std::env::var_os("POWERTOOLS_SERVICE_NAME").is_none() {
        builder = builder.env("POWERTOOLS_SERVICE_NAME", "orders");
    }
    // With --otlp, spans go over OTLP to a built-in receiver (unless OTEL_EXPORTER_OTLP_ENDPOINT
    // names another collector); else X-Ray documents go to AWS_XRAY_DAEMON_ADDRESS when it is
    // set, otherwise to a built-in collector. Both print a one-line summary of each on stderr.
    let otlp = std::env::args().any(|a| a == "--otlp");
    let mut receiver = None;
    let mut _collector = None;
    if otlp {
        if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
            let started = OtlpReceiver::start()?;
            builder = builder.env("OTEL_EXPORTER_OTLP_ENDPOINT", started.base_url());
            receiver = Some(started);
        }
    } else if std::env::var_os("AWS_XRAY_DAEMON_ADDRESS").is_none() {
        let collector =
            UdpCollector::start_with(|datagram| eprintln!("   {}", summarize(datagram))).await?;
        builder = builder.env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address());
        _collector = Some(collector);
    }
    let function = builder.start().await?;
    eprintln!(
        "quickstart: local Runtime API on {}, function `quickstart-orders` running the real lambda_runtime loop",
        function.runtime_api().runtime_api_env()
    );
    let mut answered = 0;
    let mut printed = 0;
    for (name, event) in EVENTS {
        let request = InvocationRequest::raw(event).sampled_trace();
        let body = serde_json::from_str::<Value>(event)
            .ok()
            .and_then(|e| e["body"].as_str().map(str::to_owned))
            .unwrap_or_default();
        eprintln!("\n-> {name}  POST /orders {body}");
        match function.invoke(request).await? {
            Outcome::Response(bytes) => {
                let response: Value = serde_json::from_slice(&bytes)?;
                eprintln!(
                    "<- {} {}",
                    response["statusCode"],
                    response["body"].as_str().unwrap_or_default()
                );
            }
            Outcome::Error(error) => {
                eprintln!(
                    "<- function error {}: {}",
                    error.error_type, error.error_message
                );
            }
            Outcome::Streamed(streamed) => {
                eprintln!("<- streamed {} bytes", streamed.body.len());
            }
        }
        answered += 1;
        // The invocation's spans were exported before it returned.
        if let Some(receiver) = &receiver {
            let requests = receiver.requests();
            for span in OtlpReceiver::spans(&requests[printed..]) {
                eprintln!("   {}", summarize_span(&span));
            }
            printed = requests.len();
        }
    }
    function.stop().await;
    // Let the last datagrams reach the collector before the summary.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    eprintln!("\nquickstart: {answered} events sent, {answered} answered");
    Ok(())
}

/// One line for an OTLP span: `otlp: SERVER ## handler 0.42 ms trace 5759… parent … {attributes}`.
fn summarize_span(span: &powertools_testing::otlp::proto::trace::v1::Span) -> String {
    let kind = match span.kind {
        1 => "INTERNAL",
        2 => "SERVER",
        3 => "CLIENT",
        _ => "SPAN",
    };
    let millis = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano) as f64
        / 1e6;
    let attributes: serde_json::Map<String, Value> = span
        .attributes
        .iter()
        .filter(|kv| !kv.key.starts_with("metadata.")) // the captured response: too long here
        .filter_map(|kv| Some((kv.key.clone(), attribute(&span.attributes, &kv.key)?)))
        .collect();
    let error = span
        .status
        .as_ref()
        .filter(|s| s.code == 2)
        .map(|s| format!(" ERROR {:?}", s.message))
        .unwrap_or_default();
    format!(
        "otlp: {kind} {} {millis:.2} ms trace {} parent {}{error} {}",
        span.name,
        hex(&span.trace_id),
        hex(&span.parent_span_id),
        Value::Object(attributes)
    )
}

/// One line for an X-Ray datagram: `x-ray: ## save_order 0.21 ms trace 1-… parent … {annotations}`.
fn summarize(datagram: &[u8]) -> String {
    let text = String::from_utf8_lossy(datagram);
    let document: Value = text
        .split_once('\n')
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or_default();
    let millis = (document["end_time"].as_f64().unwrap_or(0.0)
        - document["start_time"].as_f64().unwrap_or(0.0))
        * 1_000.0;
    format!(
        "x-ray: {} {:.2} ms trace {} parent {} {}",
        document["name"].as_str().unwrap_or("?"),
        millis,
        document["trace_id"].as_str().unwrap_or("?"),
        document["parent_id"].as_str().unwrap_or("?"),
        document
            .get("annotations")
            .map(Value::to_string)
            .unwrap_or_default()
    )
}
