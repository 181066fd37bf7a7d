//! The OTLP path (feature `otel`): the handler, its `## ` spans and their annotations reach an
//! OTLP/HTTP receiver as one `ExportTraceServiceRequest` per invocation, decoded here with the
//! OpenTelemetry protobuf types: the trace and parent of the X-Ray header, the FaaS resource and
//! span attributes, error status and exception events, nothing when unsampled, and a dead or
//! silent collector neither failing nor stalling the handler past the bound.

#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_runtime::{LambdaEvent, service_fn};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use powertools_tracer::Tracer;
use prost::Message as _;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

use common::{PARENT, builder, header, sampled_event};

/// An OTLP/HTTP receiver on a thread of its own (the export blocks the handler's thread):
/// answers each `POST /v1/traces` with 200 after `delay`, keeping what it decoded.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<(String, ExportTraceServiceRequest)>>>,
}

impl Receiver {
    fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, length) = loop {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break (String::new(), 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        buf.drain(..end + 4);
                        break (head, length);
                    }
                };
                while buf.len() < length {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                if let Ok(request) =
                    ExportTraceServiceRequest::decode(&buf[..length.min(buf.len())])
                {
                    kept.lock().unwrap().push((head, request));
                }
                std::thread::sleep(delay);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
                );
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<(String, ExportTraceServiceRequest)> {
        self.requests.lock().unwrap().clone()
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn spans(request: &ExportTraceServiceRequest) -> Vec<Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn otlp_tracer(endpoint: &str, timeout: Duration) -> Tracer {
    builder(&[])
        .enabled(true)
        .otlp_endpoint(endpoint)
        .otlp_timeout(timeout)
        .faas_trigger("pubsub")
        .build()
        .unwrap()
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, String> {
    let fail = event.payload["fail"].as_bool().unwrap_or(false);
    let span = tracing::info_span!("## save_order", annotation.order_id = "o-1");
    async {
        tracing::info!("saving");
    }
    .instrument_in(span)
    .await;
    if fail {
        Err("the order store is down".to_owned())
    } else {
        Ok(json!({"order_id": "o-1"}))
    }
}

trait InstrumentIn: std::future::Future + Sized {
    fn instrument_in(self, span: tracing::Span) -> tracing::instrument::Instrumented<Self> {
        tracing::Instrument::instrument(self, span)
    }
}
impl<F: std::future::Future> InstrumentIn for F {}

async fn invoke(tracer: &Tracer, event: LambdaEvent<Value>) -> Result<Value, String> {
    let subscriber = tracing_subscriber::registry().with(tracer.tracing_layer());
    tracer
        .layer()
        .layer(service_fn(handler))
        .oneshot(event)
        .with_subscriber(subscriber)
        .await
}

#[tokio::test]
async fn an_invocation_is_one_export_request_joined_to_the_xray_trace() {
    let receiver = Receiver::start(Duration::ZERO);
    let tracer = otlp_tracer(&receiver.url, Duration::from_secs(2));

    invoke(&tracer, sampled_event("req-1", json!({})))
        .await
        .unwrap();
    invoke(&tracer, sampled_event("req-2", json!({"fail": true})))
        .await
        .unwrap_err();
    let mut unsampled = sampled_event("req-3", json!({}));
    unsampled.context.xray_trace_id = Some(header("0"));
    invoke(&tracer, unsampled).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one request per sampled invocation");
    let (head, first) = &requests[0];
    assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{head}"
    );

    // The function as the resource.
    let resource = first.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        text(&resource.attributes, "service.name").as_deref(),
        Some("orders")
    );
    assert_eq!(
        text(&resource.attributes, "cloud.provider").as_deref(),
        Some("aws")
    );
    assert!(
        text(&resource.attributes, "faas.name").is_some(),
        "{resource:?}"
    );
    assert!(
        text(&resource.attributes, "cloud.region").is_some(),
        "{resource:?}"
    );
    assert!(
        attribute(&resource.attributes, "faas.max_memory").is_some(),
        "{resource:?}"
    );

    // The handler (SERVER, under the header's parent) and its `## ` span (INTERNAL, under it).
    let spans = spans(first);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let handler = spans.iter().find(|s| s.name == "## bootstrap").unwrap();
    let save = spans.iter().find(|s| s.name == "## save_order").unwrap();
    for span in [handler, save] {
        assert_eq!(hex(&span.trace_id), "5759e988bd862e3fe1be46a994272793");
    }
    assert_eq!(hex(&handler.parent_span_id), PARENT);
    assert_eq!(handler.kind, span::SpanKind::Server as i32);
    assert_eq!(save.parent_span_id, handler.span_id);
    assert_eq!(save.kind, span::SpanKind::Internal as i32);
    assert_eq!(
        text(&handler.attributes, "faas.invocation_id").as_deref(),
        Some("req-1")
    );
    assert_eq!(
        text(&handler.attributes, "faas.trigger").as_deref(),
        Some("pubsub")
    );
    assert!(matches!(
        attribute(&handler.attributes, "faas.coldstart"),
        Some(any_value::Value::BoolValue(_))
    ));
    assert!(
        text(&handler.attributes, "cloud.resource_id")
            .unwrap()
            .starts_with("arn:aws:lambda:")
    );
    assert_eq!(
        text(&handler.attributes, "Service").as_deref(),
        Some("orders")
    );
    assert_eq!(text(&save.attributes, "order_id").as_deref(), Some("o-1"));
    assert!(handler.end_time_unix_nano >= save.end_time_unix_nano);
    assert_ne!(
        handler.status.as_ref().map(|s| s.code),
        Some(status::StatusCode::Error as i32)
    );

    // The failed invocation: error status and an exception event on the handler.
    let failed = spans_named(&requests[1].1, "## bootstrap");
    assert_eq!(
        text(&failed.attributes, "faas.invocation_id").as_deref(),
        Some("req-2")
    );
    let status = failed.status.as_ref().unwrap();
    assert_eq!(status.code, status::StatusCode::Error as i32);
    assert_eq!(status.message, "the order store is down");
    let exception = failed
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap();
    assert_eq!(
        text(&exception.attributes, "exception.message").as_deref(),
        Some("the order store is down")
    );
}

fn spans_named(request: &ExportTraceServiceRequest, name: &str) -> Span {
    spans(request)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {request:#?}"))
}

#[tokio::test]
async fn a_dead_or_silent_collector_neither_fails_nor_stalls_the_handler() {
    // Nothing listens on the port: refused at once.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let tracer = otlp_tracer(&dead, Duration::from_millis(300));
    let started = Instant::now();
    invoke(&tracer, sampled_event("req-dead", json!({})))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A collector that answers after 5 s: the export gives up at its bound.
    let slow = Receiver::start(Duration::from_secs(5));
    let tracer = otlp_tracer(&slow.url, Duration::from_millis(300));
    let started = Instant::now();
    let response = invoke(&tracer, sampled_event("req-slow", json!({})))
        .await
        .unwrap();
    assert_eq!(response, json!({"order_id": "o-1"}));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(2),
        "the handler waited {waited:?}"
    );
}
