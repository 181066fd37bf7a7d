//! The OTLP path (feature `otel`): the handler, its `## ` spans and their annotations reach an
//! OTLP/HTTP receiver as one `ExportTraceServiceRequest` per invocation, decoded here with the
//! OpenTelemetry protobuf types: the trace and parent of the X-Ray header, the FaaS resource and
//! span attributes, error status and exception events, nothing when unsampled, and a dead or
//! silent collector neither failing nor stalling the handler past the bound.

#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use lambda_runtime::{LambdaEvent, service_fn};
use powertools_testing::otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use powertools_testing::otlp::proto::common::v1::KeyValue;
use powertools_testing::otlp::proto::trace::v1::{Span, span, status};
use powertools_testing::otlp::{OtlpReceiver, attribute, hex};
use powertools_tracer::Tracer;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

use common::{PARENT, builder, header, sampled_event};

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attribute(attributes, key).and_then(|v| v.as_str().map(str::to_owned))
}

fn spans(request: &ExportTraceServiceRequest) -> Vec<Span> {
    OtlpReceiver::spans(std::slice::from_ref(request))
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
    let receiver = OtlpReceiver::start().unwrap();
    let tracer = otlp_tracer(&receiver.traces_url(), Duration::from_secs(2));

    invoke(&tracer, sampled_event("req-1", json!({})))
        .await
        .unwrap();
    invoke(&tracer, sampled_event("req-2", json!({"fail": true})))
        .await
        .unwrap_err();
    let mut unsampled = sampled_event("req-3", json!({}));
    unsampled.context.xray_trace_id = Some(header("0"));
    invoke(&tracer, unsampled).await.unwrap();

    let requests = receiver.received();
    assert_eq!(requests.len(), 2, "one request per sampled invocation");
    let (head, first) = (&requests[0].head, &requests[0].request);
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
    assert!(attribute(&handler.attributes, "faas.coldstart").is_some_and(|v| v.is_boolean()));
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
    let failed = spans_named(&requests[1].request, "## bootstrap");
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
    let slow = OtlpReceiver::start_with_delay(Duration::from_secs(5)).unwrap();
    let tracer = otlp_tracer(&slow.traces_url(), Duration::from_millis(300));
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

#[tokio::test]
async fn a_long_invocation_exports_every_512_spans_and_the_rest_at_its_end() {
    let receiver = OtlpReceiver::start().unwrap();
    let tracer = otlp_tracer(&receiver.traces_url(), Duration::from_secs(2));
    let many = service_fn(|_event: LambdaEvent<Value>| async {
        for n in 0..600 {
            let span = tracing::info_span!("## record", n = n);
            let _entered = span.enter();
        }
        Ok::<_, String>(json!({}))
    });
    let subscriber = tracing_subscriber::registry().with(tracer.tracing_layer());
    tracer
        .layer()
        .layer(many)
        .oneshot(sampled_event("req-many", json!({})))
        .with_subscriber(subscriber)
        .await
        .unwrap();
    let requests = receiver.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| spans(r).len()).collect();
    assert_eq!(
        sizes,
        [512, 600 - 512 + 1],
        "the handler's span comes with the rest"
    );
}
