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

#[tokio::test]
async fn exports_share_one_kept_alive_connection_and_survive_its_close() {
    let receiver = OtlpReceiver::start().unwrap();
    let tracer = otlp_tracer(&receiver.traces_url(), Duration::from_secs(2));
    for n in 0..3 {
        invoke(&tracer, sampled_event(&format!("req-{n}"), json!({})))
            .await
            .unwrap();
    }
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(
        receiver.connections(),
        1,
        "one connection for three exports"
    );

    // The collector closes idle connections (or the environment was frozen meanwhile).
    receiver.close_connections();
    tokio::time::sleep(Duration::from_millis(20)).await;
    invoke(&tracer, sampled_event("req-after-close", json!({})))
        .await
        .unwrap();
    assert_eq!(receiver.requests().len(), 4, "exported on a new connection");
    assert_eq!(receiver.connections(), 2);
}

/// Reads one request (head and `Content-Length` body) from `stream`; `None` at its end.
fn read_raw_request(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(head);
            }
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_request_the_kept_connection_never_answered_is_sent_on_a_new_one() {
    use std::io::Write;
    // A collector that answers the first request, then closes that connection on reading
    // the second (the race of an idle timeout), and answers on the next connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (mut first, _) = listener.accept().unwrap();
        let one = read_raw_request(&mut first).unwrap();
        first.write_all(answer).unwrap();
        let unanswered = read_raw_request(&mut first).unwrap();
        drop(first);
        let (mut second, _) = listener.accept().unwrap();
        let again = read_raw_request(&mut second).unwrap();
        second.write_all(answer).unwrap();
        [one, unanswered, again]
    });
    let tracer = otlp_tracer(&url, Duration::from_secs(2));
    invoke(&tracer, sampled_event("req-1", json!({})))
        .await
        .unwrap();
    invoke(&tracer, sampled_event("req-2", json!({})))
        .await
        .unwrap();
    let heads = tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    for head in &heads {
        assert!(head.starts_with("post /v1/traces http/1.1"), "{head}");
    }
    assert_eq!(heads[1], heads[2], "the same request, sent again");
}

#[tokio::test]
async fn headers_from_the_environment_and_the_builder_the_builders_winning() {
    let receiver = OtlpReceiver::start().unwrap();
    let tracer = builder(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "api-key=s3cr%3Dt-value, x-tenant=from-env",
    )])
    .enabled(true)
    .otlp_endpoint(receiver.traces_url())
    .otlp_header("x-tenant", "t-42")
    .otlp_header("bad header", "dropped")
    .build()
    .unwrap();
    invoke(&tracer, sampled_event("req-1", json!({})))
        .await
        .unwrap();
    let head = receiver.received()[0].head.to_ascii_lowercase();
    assert!(head.contains("\r\napi-key: s3cr=t-value\r\n"), "{head}");
    assert!(head.contains("\r\nx-tenant: t-42"), "{head}");
    assert!(!head.contains("from-env"), "{head}");
    assert!(!head.contains("dropped"), "{head}");
    let shown = format!("{tracer:?}");
    assert!(!shown.contains("s3cr"), "{shown}");
}

/// Sends to X-Ray's OTLP endpoint as it must be reached: SigV4-signed for the service `xray`.
/// Here the signed request goes to a local receiver instead of AWS.
#[derive(Debug)]
struct SigV4ToLocal {
    local: std::net::SocketAddr,
    /// The status of the last answer read.
    answered: std::sync::Arc<std::sync::atomic::AtomicU16>,
}

impl powertools_tracer::OtlpTransport for SigV4ToLocal {
    fn send(
        &self,
        mut request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<http::Response<Vec<u8>>, powertools_tracer::OtlpTransportError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use std::io::{Read, Write};
        let identity = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("xray")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(request.body()),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(&mut request);

        let mut stream = std::net::TcpStream::connect_timeout(&self.local, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: xray.eu-west-1.amazonaws.com\r\nContent-Length: {}\r\nConnection: close\r\n",
            request.uri().path(),
            request.body().len()
        );
        for (name, value) in request.headers() {
            head.push_str(&format!("{name}: {}\r\n", value.to_str()?));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(request.body())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status: u16 = answer
            .split_whitespace()
            .nth(1)
            .ok_or("no status")?
            .parse()?;
        self.answered
            .store(status, std::sync::atomic::Ordering::Relaxed);
        Ok(http::Response::builder().status(status).body(Vec::new())?)
    }
}

#[tokio::test]
async fn a_transport_reaches_an_https_endpoint_signing_with_sigv4() {
    let receiver = OtlpReceiver::start().unwrap();
    let local = receiver
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let tracer = builder(&[])
        .enabled(true)
        .otlp_endpoint("https://xray.eu-west-1.amazonaws.com/v1/traces")
        .otlp_transport(SigV4ToLocal {
            local,
            answered: std::sync::Arc::clone(&answered),
        })
        .build()
        .unwrap();
    invoke(&tracer, sampled_event("req-1", json!({})))
        .await
        .unwrap();
    let received = receiver.received();
    assert_eq!(
        received.len(),
        1,
        "the https endpoint is kept with a transport"
    );
    let head = received[0].head.to_ascii_lowercase();
    assert!(
        head.contains("authorization: aws4-hmac-sha256 credential=akidexample/")
            && head.contains("/eu-west-1/xray/aws4_request"),
        "{head}"
    );
    assert!(head.contains("x-amz-date: "), "{head}");
    // The receiver answered and closed the connection it was asked to close.
    assert_eq!(answered.load(std::sync::atomic::Ordering::Relaxed), 200);
    let names: Vec<String> = spans(&received[0].request)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.contains(&"## save_order".to_owned()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_keep_separate_traces() {
    let receiver = OtlpReceiver::start().unwrap();
    let tracer = otlp_tracer(&receiver.traces_url(), Duration::from_secs(2));
    let steps = |event: LambdaEvent<Value>| async move {
        for step in 0..5 {
            let span = tracing::info_span!("## step", annotation.step = step);
            async { tokio::task::yield_now().await }
                .instrument_in(span)
                .await;
        }
        Ok::<_, String>(event.payload)
    };
    let run = |request_id: &str, root: &str| {
        let mut event = sampled_event(request_id, json!({}));
        event.context.xray_trace_id = Some(format!("Root={root};Parent={PARENT};Sampled=1"));
        let subscriber = tracing_subscriber::registry().with(tracer.tracing_layer());
        tracer
            .layer()
            .layer(service_fn(steps))
            .oneshot(event)
            .with_subscriber(subscriber)
    };
    let roots = [
        "1-5759e988-00000000000000000000000a",
        "1-5759e988-00000000000000000000000b",
    ];
    let (a, b) = tokio::join!(
        tokio::spawn(run("req-a", roots[0])),
        tokio::spawn(run("req-b", roots[1]))
    );
    a.unwrap().unwrap();
    b.unwrap().unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one request per invocation");
    let mut seen = Vec::new();
    for request in &requests {
        let spans = spans(request);
        assert_eq!(spans.len(), 6, "the handler and its 5 steps: {spans:#?}");
        let trace = hex(&spans[0].trace_id);
        assert!(
            spans.iter().all(|s| hex(&s.trace_id) == trace),
            "{spans:#?}"
        );
        seen.push(trace);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "5759e98800000000000000000000000a",
            "5759e98800000000000000000000000b"
        ]
    );
}

/// A collector answering every request on a connection with `answer`; returns its traces URL
/// and the number of requests it read so far.
fn answering(answer: &'static [u8]) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = std::sync::Arc::clone(&seen);
            std::thread::spawn(move || {
                while read_raw_request(&mut stream).is_some() {
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if stream.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_refused_export_is_not_retried() {
    let (url, count) = answering(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
    );
    let tracer = otlp_tracer(&url, Duration::from_secs(3));
    let started = Instant::now();
    invoke(&tracer, sampled_event("req-1", json!({})))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sent once"
    );
}

#[tokio::test]
async fn an_answer_without_a_body_ends_the_export_at_once() {
    // 204 with neither a length nor a chunked body, on a kept-alive connection.
    let (url, count) = answering(b"HTTP/1.1 204 No Content\r\n\r\n");
    let tracer = otlp_tracer(&url, Duration::from_secs(3));
    let started = Instant::now();
    for n in 0..2 {
        invoke(&tracer, sampled_event(&format!("req-{n}"), json!({})))
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}
