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

/// What the tracer resolved for OTLP: the builder's values, else the environment's.
pub(crate) struct OtlpConfig {
    /// The traces URL.
    pub(crate) endpoint: String,
    pub(crate) timeout: Duration,
    pub(crate) trigger: Option<String>,
    /// Extra request headers (the builder's beat the environment's).
    pub(crate) headers: Vec<(String, String)>,
    /// The user's transport, else the built-in plain-HTTP one.
    pub(crate) transport: Option<Arc<dyn OtlpTransport>>,
}

/// The headers from `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`
/// (`key1=value1,key2=value2`, values percent-decoded).
pub(crate) fn headers_from_env(env: &Env) -> Vec<(String, String)> {
    let Some(raw) = [
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ]
    .iter()
    .find_map(|name| env.string(name).filter(|v| !v.trim().is_empty())) else {
        return Vec::new();
    };
    raw.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

/// `%XX` escapes decoded (what is not an escape, or not UTF-8 once decoded, kept as it is).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

/// The endpoint without the credentials its URL may hold (`user:password@`), for messages.
fn shown(endpoint: &str) -> String {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return endpoint.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => endpoint.to_owned(),
    }
}

/// Sends each invocation's subsegments as OTLP spans, when the handler ends, in one request
/// bounded by the configured timeout and the invocation's deadline. Made by the tracer when an
/// OTLP endpoint is configured; a failed export is reported once and never fails the handler.
pub(crate) struct OtlpSink {
    exporter: Mutex<opentelemetry_otlp::SpanExporter>,
    deadline: SharedDeadline,
    timeout: Duration,
    trigger: Option<String>,
    /// The endpoint as shown in messages (no credentials).
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
    /// An exporter to `config.endpoint` (`http://host:port/v1/traces` for the built-in
    /// transport, any URL the user's transport handles).
    pub(crate) fn new(
        config: OtlpConfig,
        function: &FunctionConfig,
        service_name: &str,
    ) -> Result<Self, String> {
        let endpoint = config.endpoint.trim();
        let shown = shown(endpoint);
        if config.transport.is_none() && !endpoint.starts_with("http://") {
            return Err(format!(
                "the OTLP endpoint {shown:?} is not http://: the built-in client speaks plain HTTP to a collector (the ADOT collector extension listens on http://localhost:4318); give TracerBuilder::otlp_transport a client for https:// endpoints"
            ));
        }
        let mut headers = http::HeaderMap::new();
        for (name, value) in config.headers {
            match (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                (Ok(name), Ok(mut value)) => {
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                // The value may be a secret: only the name is shown.
                _ => powertools_core::warn(format_args!(
                    "the OTLP header {name:?} is not a valid HTTP header: it is not sent"
                )),
            }
        }
        let transport = config
            .transport
            .unwrap_or_else(|| Arc::new(PlainHttp::default()));
        let deadline = SharedDeadline::default();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(config.timeout)
            // No retries with backoff: they would count against the timeout, not the time
            // left in the invocation, and send the spans again (the transport's own resend of
            // a request a kept-alive connection never answered is the only one).
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
            .with_http_client(BoundedHttpClient {
                transport,
                headers,
                deadline: Arc::clone(&deadline),
            })
            .build()
            .map_err(|e| {
                // The exporter's message may quote the endpoint as given, credentials and all.
                let reason = e.to_string().replace(endpoint, &shown);
                format!("the OTLP exporter for {shown:?} could not be built: {reason}")
            })?;
        exporter.set_resource(&resource(function, service_name));
        Ok(Self {
            exporter: Mutex::new(exporter),
            deadline,
            timeout: config.timeout,
            trigger: config.trigger,
            endpoint: shown,
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

/// Sends one OTLP export request and returns the collector's answer, blocking, within a time
/// bound. The built-in transport speaks plain HTTP/1.1 to a local collector (the ADOT collector
/// extension) over a kept-alive connection; give the builder your own
/// ([`TracerBuilder::otlp_transport`](crate::TracerBuilder::otlp_transport)) to reach an
/// `https://` endpoint, for example X-Ray's OTLP endpoint with SigV4 signing.
///
/// `send` runs when the handler ends, inside the invocation (the execution environment is
/// frozen once it returns), so it must block until the answer or until `timeout` is spent, and
/// must not need an async runtime: it also runs after a panic and on a current-thread runtime.
/// An error is reported once and never fails the handler.
///
/// ```
/// use std::time::Duration;
/// use powertools_tracer::{OtlpTransport, OtlpTransportError};
///
/// /// Adds a signature header, then sends with the client of your choice.
/// #[derive(Debug)]
/// struct Signed<T>(T);
///
/// impl<T: OtlpTransport> OtlpTransport for Signed<T> {
///     fn send(
///         &self,
///         mut request: http::Request<Vec<u8>>,
///         timeout: Duration,
///     ) -> Result<http::Response<Vec<u8>>, OtlpTransportError> {
///         // e.g. aws_sigv4::http_request::sign(..) for X-Ray's OTLP endpoint (service `xray`)
///         request.headers_mut().insert("x-signature", "signature".parse()?);
///         self.0.send(request, timeout)
///     }
/// }
/// ```
pub trait OtlpTransport: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `request` (a `POST` of the protobuf body to the traces URL, `content-type` and the
    /// configured headers set) and returns the answer, all within `timeout`.
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<http::Response<Vec<u8>>, OtlpTransportError>;
}

/// Why an OTLP request failed (any error). It is reported once, perhaps only as a network
/// error; it must hold no secret.
pub type OtlpTransportError = Box<dyn std::error::Error + Send + Sync>;

impl<T: OtlpTransport + ?Sized> OtlpTransport for Arc<T> {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<http::Response<Vec<u8>>, OtlpTransportError> {
        (**self).send(request, timeout)
    }
}

/// The exporter's HTTP client: the transport, bounded by the deadline of the export in
/// progress, with the configured headers (which beat those the exporter read itself).
#[derive(Debug)]
struct BoundedHttpClient {
    transport: Arc<dyn OtlpTransport>,
    headers: http::HeaderMap,
    deadline: SharedDeadline,
}

#[async_trait::async_trait]
impl HttpClient for BoundedHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let deadline = *self.deadline.lock().unwrap_or_else(PoisonError::into_inner);
        let left = deadline.map_or(DEFAULT_TIMEOUT, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Err("the export's time is up".into());
        }
        let (mut parts, body) = request.into_parts();
        for (name, value) in &self.headers {
            parts.headers.insert(name.clone(), value.clone());
        }
        let response = self
            .transport
            .send(Request::from_parts(parts, Vec::from(body)), left)?;
        Ok(response.map(Bytes::from))
    }
}

/// The built-in transport: HTTP/1.1 over TCP to a plain-HTTP collector, one connection kept
/// alive between exports (a connection the collector closed meanwhile is replaced, and a
/// request it never answered is sent again on a new one), every socket operation bounded.
#[derive(Debug, Default)]
pub(crate) struct PlainHttp {
    idle: Mutex<Option<(String, TcpStream)>>,
}

/// How an exchange on a connection ended.
enum Exchange {
    /// Answered; whether the connection can carry the next request.
    Answered(Response<Vec<u8>>, bool),
    /// A kept-alive connection that answered nothing (closed by the collector meanwhile).
    Stale,
}

impl OtlpTransport for PlainHttp {
    fn send(
        &self,
        request: Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Response<Vec<u8>>, OtlpTransportError> {
        let deadline = Instant::now() + timeout;
        let uri = request.uri();
        if uri.scheme_str() != Some("http") {
            return Err("the built-in OTLP client speaks plain http:// only".into());
        }
        // `[::1]` in a URL is `::1` to the resolver.
        let host = uri
            .host()
            .ok_or("the endpoint has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let authority = format!("{host}:{port}");
        let head = request_head(&request, &authority);
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((to, stream)) = idle.filter(|(to, s)| *to == authority && still_open(s))
            && let Exchange::Answered(response, keep) =
                exchange(&stream, &head, request.body(), deadline, true)?
        {
            self.keep(keep, to, stream);
            return Ok(response);
        }
        let address = (host.as_str(), port)
            .to_socket_addrs()?
            .next()
            .ok_or("the endpoint's host has no address")?;
        let stream = TcpStream::connect_timeout(&address, left(deadline)?)?;
        let _ = stream.set_nodelay(true);
        match exchange(&stream, &head, request.body(), deadline, false)? {
            Exchange::Answered(response, keep) => {
                self.keep(keep, authority, stream);
                Ok(response)
            }
            Exchange::Stale => Err("the collector closed the connection without answering".into()),
        }
    }
}

impl PlainHttp {
    fn keep(&self, keep: bool, authority: String, stream: TcpStream) {
        if keep {
            *self.idle.lock().unwrap_or_else(PoisonError::into_inner) = Some((authority, stream));
        }
    }
}

/// The request line and headers.
fn request_head(request: &Request<Vec<u8>>, authority: &str) -> Vec<u8> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\n",
        request.method(),
        request.body().len()
    )
    .into_bytes();
    for (name, value) in request.headers() {
        if name != http::header::CONTENT_LENGTH && name != http::header::HOST {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// What is left of the time until `deadline`; an error once it has passed.
fn left(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the export's time is up",
        ))
    } else {
        Ok(left)
    }
}

/// Whether an idle connection is still open: nothing to read yet, and not closed.
fn still_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let open = matches!(
        stream.peek(&mut [0u8; 1]),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    );
    stream.set_nonblocking(false).is_ok() && open
}

/// One request and its answer on `stream`, each read and write bounded by `deadline`. On a
/// `reused` connection, a failure before any byte of answer is [`Exchange::Stale`].
fn exchange(
    mut stream: &TcpStream,
    head: &[u8],
    body: &[u8],
    deadline: Instant,
    reused: bool,
) -> Result<Exchange, OtlpTransportError> {
    let stale = |error: std::io::Error| -> Result<Exchange, OtlpTransportError> {
        if reused && error.kind() != std::io::ErrorKind::TimedOut {
            Ok(Exchange::Stale)
        } else {
            Err(error.into())
        }
    };
    for part in [head, body] {
        let mut part = part;
        while !part.is_empty() {
            let written = left(deadline)
                .and_then(|l| stream.set_write_timeout(Some(l)))
                .and_then(|()| stream.write(part));
            match written {
                Ok(0) => return stale(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => part = &part[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return stale(e),
            }
        }
    }
    let mut reply = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut read = |reply: &mut Vec<u8>| -> std::io::Result<usize> {
        loop {
            left(deadline).and_then(|l| stream.set_read_timeout(Some(l)))?;
            match stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                other => {
                    let n = other?;
                    reply.extend_from_slice(&chunk[..n]);
                    if reply.len() > MAX_RESPONSE {
                        return Err(std::io::Error::other("the collector's answer is too large"));
                    }
                    return Ok(n);
                }
            }
        }
    };
    // The head.
    let head_end = loop {
        if let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match read(&mut reply) {
            Ok(0) if reply.is_empty() => return stale(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(0) => return Err("the collector's answer ended early".into()),
            Ok(_) => {}
            Err(e) if reply.is_empty() => return stale(e),
            Err(e) => return Err(e.into()),
        }
    };
    let head = ResponseHead::parse(&reply[..head_end])?;
    // The body, framed by its length, its chunks, or the end of the connection.
    let start = head_end + 4;
    let (body, framed) = loop {
        let received = &reply[start..];
        let done = match head.framing {
            Framing::Length(n) if received.len() >= n => Some((received[..n].to_vec(), true)),
            Framing::Chunked => match chunked(received) {
                Chunked::Done(data) => Some((data, true)),
                Chunked::Malformed => {
                    return Err("the collector's chunked answer is malformed".into());
                }
                Chunked::More => None,
            },
            _ => None,
        };
        if let Some(done) = done {
            break done;
        }
        if read(&mut reply)? == 0 {
            if head.framing == Framing::Close {
                break (reply[start..].to_vec(), false);
            }
            return Err("the collector's answer ended early".into());
        }
    };
    let response = Response::builder().status(head.status).body(body)?;
    Ok(Exchange::Answered(response, framed && !head.close))
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// What the exchange needs of a response's head.
#[derive(Debug)]
struct ResponseHead {
    status: u16,
    framing: Framing,
    /// The collector closes the connection after this answer (or speaks HTTP/1.0).
    close: bool,
}

impl ResponseHead {
    fn parse(head: &[u8]) -> Result<Self, OtlpTransportError> {
        let head = std::str::from_utf8(head)?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut words = status_line.split_whitespace();
        let version = words.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err("the collector's answer is not HTTP/1.x".into());
        }
        let status = words
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or("the collector's answer has no status")?;
        // These answers never have a body, whatever their headers say.
        let bodiless = status < 200 || status == 204 || status == 304;
        let mut framing = Framing::Close;
        let mut close = version == "HTTP/1.0";
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                framing = Framing::Chunked;
            } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
                let n = value
                    .parse()
                    .map_err(|_| "the collector's answer has a malformed length")?;
                framing = Framing::Length(n);
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        Ok(Self {
            status,
            framing: if bodiless {
                Framing::Length(0)
            } else {
                framing
            },
            close,
        })
    }
}

/// A chunked body so far.
#[derive(Debug, PartialEq, Eq)]
enum Chunked {
    Done(Vec<u8>),
    More,
    Malformed,
}

/// The data of a chunked body, once its last chunk and trailers arrived.
fn chunked(mut body: &[u8]) -> Chunked {
    let mut data = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Chunked::More;
        };
        let size = std::str::from_utf8(&body[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else {
            return Chunked::Malformed;
        };
        body = &body[line_end + 2..];
        if size == 0 {
            // Trailers, if any, end with an empty line.
            let ended = body.starts_with(b"\r\n") || body.windows(4).any(|w| w == b"\r\n\r\n");
            return if ended {
                Chunked::Done(data)
            } else {
                Chunked::More
            };
        }
        let Some(end) = size.checked_add(2) else {
            return Chunked::Malformed;
        };
        if body.len() < end {
            return Chunked::More;
        }
        if &body[size..end] != b"\r\n" {
            return Chunked::Malformed;
        }
        data.extend_from_slice(&body[..size]);
        body = &body[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Chunked, Framing, ResponseHead, chunked, percent_decode, shown, system_time, xray_trace_hex,
    };

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
    fn response_heads_say_how_the_body_ends() {
        let head = ResponseHead::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2").unwrap();
        assert_eq!(
            (head.status, head.framing, head.close),
            (200, Framing::Length(2), false)
        );
        let head = ResponseHead::parse(
            b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\nConnection: close",
        )
        .unwrap();
        assert_eq!(
            (head.status, head.framing, head.close),
            (400, Framing::Chunked, true)
        );
        let head = ResponseHead::parse(b"HTTP/1.1 204 No Content").unwrap();
        assert_eq!(head.framing, Framing::Length(0));
        let head = ResponseHead::parse(b"HTTP/1.0 200 OK").unwrap();
        assert_eq!((head.framing, head.close), (Framing::Close, true));
        assert!(ResponseHead::parse(b"garbage").is_err());
        assert!(ResponseHead::parse(b"HTTP/1.1 abc").is_err());
        assert!(ResponseHead::parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1").is_err());
        assert!(ResponseHead::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn chunked_bodies_complete_partial_or_malformed() {
        assert_eq!(
            chunked(b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"),
            Chunked::Done(b"abc".to_vec())
        );
        assert_eq!(
            chunked(b"2;x=y\r\nab\r\n0\r\nTrailer: 1\r\n\r\n"),
            Chunked::Done(b"ab".to_vec())
        );
        assert_eq!(chunked(b"2\r\nab\r\n0\r\n"), Chunked::More);
        assert_eq!(chunked(b"2\r\na"), Chunked::More);
        assert_eq!(chunked(b""), Chunked::More);
        assert_eq!(chunked(b"zz\r\n"), Chunked::Malformed);
        assert_eq!(chunked(b"2\r\nabcd\r\n"), Chunked::Malformed);
        assert_eq!(chunked(b"ffffffffffffffff\r\n"), Chunked::Malformed);
    }

    #[test]
    fn header_values_and_endpoints() {
        assert_eq!(percent_decode("Bearer%20t%3Dk"), "Bearer t=k");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "%ff");
        assert_eq!(percent_decode("%+5"), "%+5");
        assert_eq!(
            shown("http://user:pw@collector:4318/v1/traces"),
            "http://…@collector:4318/v1/traces"
        );
        assert_eq!(
            shown("http://localhost:4318/v1/traces?a=b@c"),
            "http://localhost:4318/v1/traces?a=b@c"
        );
        assert_eq!(shown("not a url"), "not a url");
        assert_eq!(system_time(f64::NAN), std::time::UNIX_EPOCH);
        assert_eq!(system_time(-1.0), std::time::UNIX_EPOCH);
    }
}
