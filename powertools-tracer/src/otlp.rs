//! OpenTelemetry: each invocation's subsegments as OTLP spans (HTTP/protobuf), exported
//! together when the handler ends, within a bound, by `opentelemetry-otlp`'s exporter.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState as OtelTraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value as OtelValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use powertools_core::{Env, FunctionConfig};

use crate::segment::{Annotation, Subsegment};
use crate::sink::{InvocationSpans, SegmentSink};

/// How long an invocation's export may take at most (else `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`
/// or `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
/// Kept free before the invocation's deadline: the export stops this long before it.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// A response body larger than this is not read.
const MAX_RESPONSE: usize = 1024 * 1024;

/// The traces endpoint from the environment: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is,
/// else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces`.
pub(crate) fn endpoint_from_env(env: &Env) -> Option<String> {
    env.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            env.string("OTEL_EXPORTER_OTLP_ENDPOINT")
                .filter(|v| !v.trim().is_empty())
                .map(|base| format!("{}/v1/traces", base.trim().trim_end_matches('/')))
        })
}

/// The export bound from the environment (milliseconds), else [`DEFAULT_TIMEOUT`].
pub(crate) fn timeout_from_env(env: &Env) -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|name| env.parse::<u64>(name, "a whole number of milliseconds"))
    .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// The OpenTelemetry resource of the function (semantic conventions for FaaS on AWS).
fn resource(config: &FunctionConfig, service_name: &str) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.name", service_name.to_owned()),
        KeyValue::new("cloud.provider", "aws"),
        KeyValue::new("cloud.platform", "aws_lambda"),
    ];
    let mut text = |key: &'static str, value: Option<&str>| {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value.to_owned()));
        }
    };
    text("cloud.region", config.region());
    text("faas.name", config.function_name());
    text("faas.version", config.function_version());
    text("faas.instance", config.log_stream());
    if let Some(mb) = config.memory_size_mb() {
        attributes.push(KeyValue::new(
            "faas.max_memory",
            i64::from(mb) * 1024 * 1024,
        ));
    }
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

/// The deadline of the export in progress, read by [`BoundedHttpClient`] for each socket
/// operation.
type SharedDeadline = Arc<Mutex<Option<Instant>>>;

/// Sends each invocation's subsegments as OTLP spans, when the handler ends, in one request
/// bounded by the configured timeout and the invocation's deadline. Made by the tracer when an
/// OTLP endpoint is configured; a failed export is reported once and never fails the handler.
pub(crate) struct OtlpSink {
    exporter: Mutex<opentelemetry_otlp::SpanExporter>,
    deadline: SharedDeadline,
    timeout: Duration,
    trigger: Option<String>,
    endpoint: String,
    warned: AtomicBool,
}

impl std::fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpSink")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl OtlpSink {
    /// An exporter to `endpoint` (`http://host:port/v1/traces`).
    pub(crate) fn new(
        endpoint: &str,
        timeout: Duration,
        trigger: Option<String>,
        config: &FunctionConfig,
        service_name: &str,
    ) -> Result<Self, String> {
        if !endpoint.starts_with("http://") {
            return Err(format!(
                "the OTLP endpoint {endpoint:?} is not http://: the built-in client speaks plain HTTP to a collector (the ADOT collector extension listens on http://localhost:4318)"
            ));
        }
        let deadline = SharedDeadline::default();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(timeout)
            .with_http_client(BoundedHttpClient {
                deadline: Arc::clone(&deadline),
            })
            .build()
            .map_err(|e| format!("the OTLP exporter could not be built: {e}"))?;
        exporter.set_resource(&resource(config, service_name));
        Ok(Self {
            exporter: Mutex::new(exporter),
            deadline,
            timeout,
            trigger,
            endpoint: endpoint.to_owned(),
            warned: AtomicBool::new(false),
        })
    }

    fn warn_once(&self, what: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            powertools_core::warn(format_args!(
                "OTLP export to {} failed ({what}): the spans of that invocation are lost (warned once)",
                self.endpoint
            ));
        }
    }
}

impl SegmentSink for OtlpSink {
    fn export(&self, subsegment: &Subsegment) {
        // Only reached through a caller that ignores `batches`: one span, its own request.
        let spans = InvocationSpans {
            subsegments: std::slice::from_ref(subsegment),
            request_id: "",
            function_arn: "",
            parent_id: None,
            deadline: SystemTime::now() + self.timeout,
        };
        self.export_invocation(&spans);
    }

    fn batches(&self) -> bool {
        true
    }

    fn export_invocation(&self, spans: &InvocationSpans<'_>) {
        let batch: Vec<SpanData> = spans
            .subsegments
            .iter()
            .filter_map(|s| span_data(s, spans, self.trigger.as_deref()))
            .collect();
        if batch.is_empty() {
            return;
        }
        // Bounded by the timeout and by the invocation's deadline (less a margin).
        let left = spans
            .deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(DEADLINE_MARGIN);
        let budget = self.timeout.min(left);
        if budget.is_zero() {
            self.warn_once("no time left before the invocation's deadline");
            return;
        }
        // One export at a time per exporter (its contract); concurrent invocations wait.
        let exporter = self.exporter.lock().unwrap_or_else(PoisonError::into_inner);
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + budget);
        let result = futures_executor::block_on(exporter.export(batch));
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if let Err(error) = result {
            self.warn_once(&error.to_string());
        }
    }
}

/// A subsegment as an OpenTelemetry span; `None` when its ids are not X-Ray's.
fn span_data(
    subsegment: &Subsegment,
    invocation: &InvocationSpans<'_>,
    trigger: Option<&str>,
) -> Option<SpanData> {
    let trace_id = TraceId::from_hex(&xray_trace_hex(&subsegment.trace_id)?).ok()?;
    let span_id = SpanId::from_hex(&subsegment.id).ok()?;
    let parent = subsegment.parent_id.as_deref();
    let parent_span_id = parent
        .and_then(|p| SpanId::from_hex(p).ok())
        .unwrap_or(SpanId::INVALID);
    let is_handler = parent.is_some() && parent == invocation.parent_id;
    let mut attributes = Vec::new();
    for (key, value) in &subsegment.annotations {
        attributes.push(KeyValue::new(key.clone(), annotation_value(value)));
    }
    for (namespace, values) in &subsegment.metadata {
        for (key, value) in values {
            attributes.push(KeyValue::new(
                format!("metadata.{namespace}.{key}"),
                value.to_string(),
            ));
        }
    }
    let mut name = subsegment.name.clone();
    let kind = if is_handler {
        attributes.push(KeyValue::new(
            "faas.invocation_id",
            invocation.request_id.to_owned(),
        ));
        attributes.push(KeyValue::new(
            "cloud.resource_id",
            invocation.function_arn.to_owned(),
        ));
        // An HTTP request (the `http` hook's `request` block) is an `http` trigger.
        let request = subsegment.http.as_ref().map(|h| &h["request"]);
        let http = request.is_some_and(|r| r.is_object());
        let trigger = trigger.unwrap_or(if http { "http" } else { "other" });
        attributes.push(KeyValue::new("faas.trigger", trigger.to_owned()));
        if let Some(request) = request.filter(|_| http) {
            if let Some(method) = request["method"].as_str() {
                attributes.push(KeyValue::new("http.request.method", method.to_owned()));
            }
            if let Some(url) = request["url"].as_str() {
                attributes.push(KeyValue::new("url.full", url.to_owned()));
            }
        }
        if let Some(Annotation::Bool(cold)) = subsegment.annotations.get("ColdStart") {
            attributes.push(KeyValue::new("faas.coldstart", *cold));
        }
        SpanKind::Server
    } else if subsegment.namespace.is_some() {
        if let Some(aws) = &subsegment.aws {
            attributes.push(KeyValue::new("rpc.system", "aws-api"));
            attributes.push(KeyValue::new("rpc.service", subsegment.name.clone()));
            if let Some(operation) = aws.get("operation").and_then(|v| v.as_str()) {
                attributes.push(KeyValue::new("rpc.method", operation.to_owned()));
                name = format!("{}.{operation}", subsegment.name);
            }
            if let Some(id) = aws.get("request_id").and_then(|v| v.as_str()) {
                attributes.push(KeyValue::new("aws.request_id", id.to_owned()));
            }
            if let Some(region) = aws.get("region").and_then(|v| v.as_str()) {
                attributes.push(KeyValue::new("cloud.region", region.to_owned()));
            }
            if let Some(table) = aws.get("table_name").and_then(|v| v.as_str()) {
                attributes.push(KeyValue::new(
                    "aws.dynamodb.table_names",
                    OtelValue::Array(
                        vec![opentelemetry::StringValue::from(table.to_owned())].into(),
                    ),
                ));
            }
        }
        SpanKind::Client
    } else {
        SpanKind::Internal
    };
    if let Some(status) = subsegment
        .http
        .as_ref()
        .and_then(|h| h["response"]["status"].as_i64())
    {
        attributes.push(KeyValue::new("http.response.status_code", status));
    }
    let start_time = system_time(subsegment.start_time);
    let end_time = subsegment.end_time.map_or(start_time, system_time);
    let mut events = SpanEvents::default();
    let exceptions = subsegment.cause.iter().flat_map(|c| &c.exceptions);
    for exception in exceptions.clone() {
        let mut fields = vec![KeyValue::new(
            "exception.message",
            exception.message.clone(),
        )];
        if let Some(kind) = &exception.kind {
            fields.push(KeyValue::new("exception.type", kind.clone()));
        }
        events.events.push(opentelemetry::trace::Event::new(
            "exception",
            end_time,
            fields,
            0,
        ));
    }
    let status = if subsegment.fault || subsegment.error || subsegment.throttle {
        Status::error(
            exceptions
                .map(|e| e.message.clone())
                .next()
                .unwrap_or_default(),
        )
    } else {
        Status::Unset
    };
    Some(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            OtelTraceState::default(),
        ),
        parent_span_id,
        parent_span_is_remote: is_handler,
        span_kind: kind,
        name: name.into(),
        start_time,
        end_time,
        attributes,
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("powertools-tracer")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    })
}

/// `1-5759e988-bd862e3fe1be46a994272793` as the 32 hex digits of the 128-bit trace id.
fn xray_trace_hex(root: &str) -> Option<String> {
    let mut parts = root.split('-');
    let (Some("1"), Some(time), Some(random), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let hex = format!("{time}{random}");
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn annotation_value(value: &Annotation) -> OtelValue {
    match value {
        Annotation::String(s) => OtelValue::from(s.clone()),
        Annotation::Int(n) => OtelValue::I64(*n),
        Annotation::Float(n) => OtelValue::F64(*n),
        Annotation::Bool(b) => OtelValue::Bool(*b),
    }
}

/// Epoch seconds as a time (the epoch itself for what is not a time).
fn system_time(seconds: f64) -> SystemTime {
    Duration::try_from_secs_f64(seconds).map_or(UNIX_EPOCH, |d| UNIX_EPOCH + d)
}

/// A blocking HTTP/1.1 client for plain-HTTP collectors, every socket operation bounded by the
/// deadline of the export in progress: no async runtime is needed (the export runs inside the
/// invocation's end, panics and streamed responses included).
#[derive(Debug)]
struct BoundedHttpClient {
    deadline: SharedDeadline,
}

impl BoundedHttpClient {
    fn left(&self) -> Result<Duration, HttpError> {
        let deadline = *self.deadline.lock().unwrap_or_else(PoisonError::into_inner);
        let left = deadline.map_or(DEFAULT_TIMEOUT, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            Err("the export's time is up".into())
        } else {
            Ok(left)
        }
    }

    fn post(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri();
        let host = uri.host().ok_or("the endpoint has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let address = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or("the endpoint's host has no address")?;
        let stream = TcpStream::connect_timeout(&address, self.left()?)?;
        let mut stream = Deadlined {
            stream,
            client: self,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
            request.method(),
            request.body().len()
        );
        for (name, value) in request.headers() {
            if let Ok(value) = value.to_str() {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(request.body())?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..n]);
            if reply.len() > MAX_RESPONSE {
                return Err("the collector's answer is too large".into());
            }
        }
        parse_response(&reply)
    }
}

/// A socket whose every read and write is bounded by the export's deadline.
struct Deadlined<'a> {
    stream: TcpStream,
    client: &'a BoundedHttpClient,
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.client.left().map_err(std::io::Error::other)?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.client.left().map_err(std::io::Error::other)?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// An HTTP/1.1 response read to the end of the connection (`Connection: close`).
fn parse_response(reply: &[u8]) -> Result<Response<Bytes>, HttpError> {
    let head_end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the collector's answer is not HTTP")?;
    let head = std::str::from_utf8(&reply[..head_end])?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("the collector's answer has no status")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &reply[head_end + 4..];
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok(Response::builder().status(status).body(Bytes::from(body))?)
}

/// A chunked body's data (what is malformed ends it).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else {
            break;
        };
        let start = line_end + 2;
        let Some(chunk) = body.get(start..start + size) else {
            break;
        };
        data.extend_from_slice(chunk);
        body = body.get(start + size + 2..).unwrap_or_default();
    }
    data
}

#[async_trait::async_trait]
impl HttpClient for BoundedHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.post(&request)
    }
}

#[cfg(test)]
mod tests {
    use super::{dechunk, parse_response, system_time, xray_trace_hex};

    #[test]
    fn xray_roots_become_128_bit_trace_ids() {
        assert_eq!(
            xray_trace_hex("1-5759e988-bd862e3fe1be46a994272793").as_deref(),
            Some("5759e988bd862e3fe1be46a994272793")
        );
        for bad in [
            "",
            "1-5759e988",
            "2-5759e988-bd862e3fe1be46a994272793",
            "1-zz59e988-bd862e3fe1be46a994272793",
            "1-5759e988-bd86-2e3fe1be46a994272793",
        ] {
            assert_eq!(xray_trace_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn responses_plain_or_chunked_and_odd_times() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!(plain.status(), 200);
        assert_eq!(plain.body().as_ref(), b"ok");
        let chunked = parse_response(
            b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.status(), 400);
        assert_eq!(chunked.body().as_ref(), b"abc");
        assert!(parse_response(b"garbage").is_err());
        assert_eq!(dechunk(b"zz\r\n"), b"");
        assert_eq!(system_time(f64::NAN), std::time::UNIX_EPOCH);
        assert_eq!(system_time(-1.0), std::time::UNIX_EPOCH);
    }
}
