//! A local implementation of the Lambda Runtime API (the `2018-06-01` interface) on 127.0.0.1.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::HarnessError;
use crate::ids;

/// How long [`RuntimeApi::invoke`] waits past an invocation's deadline before giving up.
const DEADLINE_GRACE: Duration = Duration::from_secs(5);

/// One event to deliver to the function, with the headers Lambda would send.
///
/// ```
/// use powertools_testing::InvocationRequest;
/// use std::time::Duration;
///
/// let request = InvocationRequest::json(&serde_json::json!({"order": 1}))
///     .unwrap()
///     .request_id("c6af9ac6-7b61-11e6-9a41-93e812345678")
///     .timeout(Duration::from_secs(3))
///     .sampled_trace();
/// assert_eq!(request.get_request_id(), "c6af9ac6-7b61-11e6-9a41-93e812345678");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct InvocationRequest {
    payload: Bytes,
    request_id: String,
    function_arn: Option<String>,
    deadline: Deadline,
    trace_header: Option<String>,
    client_context: Option<String>,
    tenant_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    /// Relative to the moment the function receives the event, as Lambda does.
    Timeout(Duration),
    /// An absolute deadline in epoch milliseconds.
    At(u64),
}

impl InvocationRequest {
    /// An event with these raw bytes as payload (they need not be valid JSON: that is how a
    /// malformed event is tested).
    pub fn raw(payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            request_id: ids::request_id(),
            function_arn: None,
            deadline: Deadline::Timeout(Duration::from_secs(30)),
            trace_header: None,
            tenant_id: None,
            client_context: None,
        }
    }

    /// An event with `payload` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(payload: &T) -> Result<Self, HarnessError> {
        let bytes = serde_json::to_vec(payload).map_err(HarnessError::Serialize)?;
        Ok(Self::raw(bytes))
    }

    /// Sets the request id (default: a fresh UUID).
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }

    /// Sets the invoked function ARN (default: built from the function name).
    pub fn function_arn(mut self, arn: impl Into<String>) -> Self {
        self.function_arn = Some(arn.into());
        self
    }

    /// Sets the function timeout: the deadline is this long after the function receives the
    /// event (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Deadline::Timeout(timeout);
        self
    }

    /// Sets an absolute deadline in epoch milliseconds.
    pub fn deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline = Deadline::At(deadline_ms);
        self
    }

    /// Sets the raw `Lambda-Runtime-Trace-Id` header.
    pub fn trace_header(mut self, header: impl Into<String>) -> Self {
        self.trace_header = Some(header.into());
        self
    }

    /// Sends a fresh, sampled trace header (`Root=...;Parent=...;Sampled=1`).
    pub fn sampled_trace(self) -> Self {
        self.trace_header(ids::sampled_trace_header())
    }

    /// Sets the raw `Lambda-Runtime-Client-Context` header (JSON).
    pub fn client_context(mut self, json: impl Into<String>) -> Self {
        self.client_context = Some(json.into());
        self
    }

    /// Sets the `Lambda-Runtime-Aws-Tenant-Id` header (functions with tenant isolation).
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// The request id this event will carry.
    pub fn get_request_id(&self) -> &str {
        &self.request_id
    }

    /// The trace header this event will carry, if any.
    pub fn get_trace_header(&self) -> Option<&str> {
        self.trace_header.as_deref()
    }
}

/// An error the function reported for an invocation (`/invocation/{id}/error`) or for its
/// initialisation (`/init/error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType` from the body (or the `Lambda-Runtime-Function-Error-Type` header).
    pub error_type: String,
    /// `errorMessage` from the body.
    pub error_message: String,
    /// The body as posted.
    pub body: Bytes,
}

impl FunctionError {
    fn from_post(header_type: Option<&str>, body: Bytes) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            error_type: field("errorType")
                .or_else(|| header_type.map(str::to_owned))
                .unwrap_or_default(),
            error_message: field("errorMessage").unwrap_or_default(),
            body,
        }
    }
}

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function posted a response (`/invocation/{id}/response`).
    Response(Bytes),
    /// The function streamed a response (`Lambda-Runtime-Function-Response-Mode: streaming`,
    /// as `lambda_runtime` does for `StreamResponse` and `lambda_http` for
    /// `run_with_streaming_response`).
    Streamed(StreamedResponse),
    /// The function posted an error (`/invocation/{id}/error`).
    Error(FunctionError),
}

impl Outcome {
    /// The response body parsed as JSON (a streamed response's body, after its prelude), or
    /// an error saying what the function answered instead.
    pub fn json(&self) -> Result<serde_json::Value, HarnessError> {
        match self {
            Self::Response(body) => serde_json::from_slice(body).map_err(HarnessError::Serialize),
            Self::Streamed(streamed) => {
                serde_json::from_slice(&streamed.body).map_err(HarnessError::Serialize)
            }
            Self::Error(error) => Err(HarnessError::FunctionFailed(error.clone())),
        }
    }

    /// The error, if the function reported one (for a streamed response, the mid-stream error
    /// it reported in the stream's trailer).
    pub fn error(&self) -> Option<&FunctionError> {
        match self {
            Self::Error(error) => Some(error),
            Self::Streamed(streamed) => streamed.error.as_ref(),
            Self::Response(_) => None,
        }
    }

    /// The response body, if the function answered with one (a streamed body without its
    /// prelude).
    pub fn body(&self) -> Option<&Bytes> {
        match self {
            Self::Response(body) => Some(body),
            Self::Streamed(streamed) => Some(&streamed.body),
            Self::Error(_) => None,
        }
    }

    /// The streamed response, if the function streamed one.
    pub fn streamed(&self) -> Option<&StreamedResponse> {
        match self {
            Self::Streamed(streamed) => Some(streamed),
            _ => None,
        }
    }
}

/// A response the function streamed, as the Runtime API received it: the HTTP integration
/// prelude, the body, and the error reported mid-stream, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedResponse {
    /// The prelude before the eight NUL bytes (`statusCode`, `headers`, `cookies`), as JSON;
    /// `None` when the stream has no prelude.
    pub prelude: Option<serde_json::Value>,
    /// The body after the prelude, without the error trailer.
    pub body: Bytes,
    /// The error reported mid-stream (`Lambda-Runtime-Function-Error-Type` and
    /// `Lambda-Runtime-Function-Error-Body`, the body base64-decoded), as an HTTP trailer or as
    /// `lambda_runtime` writes it at the end of the stream.
    pub error: Option<FunctionError>,
    /// How many body chunks arrived (transport framing: at least one per chunk sent, unless
    /// merged on the way).
    pub chunks: usize,
}

/// The trailer names of a mid-stream error.
const ERROR_TYPE_TRAILER: &str = "Lambda-Runtime-Function-Error-Type";
const ERROR_BODY_TRAILER: &str = "Lambda-Runtime-Function-Error-Body";

impl StreamedResponse {
    /// Splits what the function streamed: prelude, body, error.
    fn parse(bytes: &[u8], chunks: usize, trailers: Option<&http::HeaderMap>) -> Self {
        const DELIMITER: &[u8] = &[0; 8];
        let (prelude, mut body) = match bytes.windows(DELIMITER.len()).position(|w| w == DELIMITER)
        {
            Some(at) => (
                serde_json::from_slice(&bytes[..at]).ok(),
                &bytes[at + DELIMITER.len()..],
            ),
            None => (None, bytes),
        };
        let mut error = trailers.and_then(|trailers| {
            let kind = trailers.get(ERROR_TYPE_TRAILER)?.to_str().ok()?.to_owned();
            let message = trailers
                .get(ERROR_BODY_TRAILER)
                .and_then(|v| v.to_str().ok())
                .map(decode_base64_text)
                .unwrap_or_default();
            Some(stream_error(kind, message))
        });
        // lambda_runtime writes the error as the stream's last data: "<Type>: ..\r\n<Body>: ..\r\n".
        let marker = format!("{ERROR_TYPE_TRAILER}: ");
        if let Some(at) = find(body, marker.as_bytes()) {
            let text = String::from_utf8_lossy(&body[at..]).into_owned();
            let field = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                    .map(|v| v.trim().to_owned())
            };
            if error.is_none() {
                let kind = field(ERROR_TYPE_TRAILER).unwrap_or_default();
                let message = field(ERROR_BODY_TRAILER)
                    .map(|v| decode_base64_text(&v))
                    .unwrap_or_default();
                error = Some(stream_error(kind, message));
            }
            body = &body[..at];
        }
        Self {
            prelude,
            body: Bytes::copy_from_slice(body),
            error,
            chunks,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn stream_error(error_type: String, error_message: String) -> FunctionError {
    FunctionError {
        error_type,
        body: Bytes::from(error_message.clone()),
        error_message,
    }
}

/// A base64 text decoded as UTF-8 (lossily), or the text itself when it is not base64.
fn decode_base64_text(text: &str) -> String {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => text.to_owned(),
    }
}

struct Queued {
    request: InvocationRequest,
    reply: oneshot::Sender<Outcome>,
}

struct State {
    default_arn: String,
    queue_tx: mpsc::UnboundedSender<Queued>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<FunctionError>>,
}

/// A Runtime API server on 127.0.0.1, feeding events to a function running the real
/// `lambda_runtime` loop (give it `AWS_LAMBDA_RUNTIME_API` = [`RuntimeApi::runtime_api_env`]).
///
/// The server stops when this value is dropped.
///
/// ```no_run
/// use powertools_testing::{InvocationRequest, RuntimeApi};
/// use serde_json::json;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let api = RuntimeApi::start("orders").await?;
/// // Start the function (a child process, a thread) with
/// // AWS_LAMBDA_RUNTIME_API = api.runtime_api_env(); LocalFunction does all of this.
/// let outcome = api.invoke(InvocationRequest::json(&json!({"n": 1}))?).await?;
/// assert_eq!(outcome.json()?["n"], 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An invocation that was queued and not yet answered; `.await` it (via [`Pending::outcome`]).
#[derive(Debug)]
pub struct Pending {
    request_id: String,
    deadline_hint: Duration,
    reply: oneshot::Receiver<Outcome>,
}

impl Pending {
    /// The request id of the queued invocation.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Waits for the function's answer, at most the invocation's timeout plus a grace period.
    pub async fn outcome(self) -> Result<Outcome, HarnessError> {
        match tokio::time::timeout(self.deadline_hint, self.reply).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(HarnessError::ServerStopped),
            Err(_) => Err(HarnessError::Timeout {
                request_id: self.request_id,
                waited: self.deadline_hint,
            }),
        }
    }
}

impl RuntimeApi {
    /// Starts the server on a free loopback port. `function_name` fills the default invoked ARN.
    pub async fn start(function_name: &str) -> Result<Self, HarnessError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(HarnessError::Io)?;
        let addr = listener.local_addr().map_err(HarnessError::Io)?;
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            default_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let server = tokio::spawn(crate::serve::accept_loop(
            listener,
            Arc::clone(&state),
            route,
        ));
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:<port>`).
    pub fn runtime_api_env(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation; the function picks it up on its next `/next` poll.
    pub fn enqueue(&self, request: InvocationRequest) -> Result<Pending, HarnessError> {
        let (reply, rx) = oneshot::channel();
        let request_id = request.request_id.clone();
        let deadline_hint = match request.deadline {
            Deadline::Timeout(timeout) => timeout,
            Deadline::At(ms) => Duration::from_millis(ms.saturating_sub(now_ms())),
        } + DEADLINE_GRACE;
        self.state
            .queue_tx
            .send(Queued { request, reply })
            .map_err(|_| HarnessError::ServerStopped)?;
        Ok(Pending {
            request_id,
            deadline_hint,
            reply: rx,
        })
    }

    /// Queues an invocation and waits for the function's answer.
    pub async fn invoke(&self, request: InvocationRequest) -> Result<Outcome, HarnessError> {
        self.enqueue(request)?.outcome().await
    }

    /// The error the function posted to `/init/error` (or, under SnapStart, `/restore/error`).
    pub fn init_error(&self) -> Option<FunctionError> {
        self.state.init_error.lock().ok().and_then(|e| e.clone())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let response = match (req.method(), segments.as_slice()) {
        (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => next(&state).await,
        (
            &Method::POST,
            [
                "2018-06-01",
                "runtime",
                "invocation",
                id,
                kind @ ("response" | "error"),
            ],
        ) => {
            let id = (*id).to_owned();
            let is_error = *kind == "error";
            let header_type = req
                .headers()
                .get("Lambda-Runtime-Function-Error-Type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let streaming = req
                .headers()
                .get("Lambda-Runtime-Function-Response-Mode")
                .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"));
            // Frame by frame, to count a stream's chunks and keep its trailers.
            let mut body = req.into_body();
            let mut bytes = Vec::new();
            let mut chunks = 0;
            let mut trailers = None;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    return Ok(reply(StatusCode::BAD_REQUEST, "unreadable body"));
                };
                match frame.into_data() {
                    Ok(data) => {
                        chunks += 1;
                        bytes.extend_from_slice(&data);
                    }
                    Err(frame) => trailers = frame.into_trailers().ok(),
                }
            }
            let outcome = if is_error {
                Outcome::Error(FunctionError::from_post(
                    header_type.as_deref(),
                    bytes.into(),
                ))
            } else if streaming {
                Outcome::Streamed(StreamedResponse::parse(&bytes, chunks, trailers.as_ref()))
            } else {
                Outcome::Response(bytes.into())
            };
            let waiter = state.in_flight.lock().ok().and_then(|mut m| m.remove(&id));
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(outcome);
                    reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
                }
                None => reply(
                    StatusCode::BAD_REQUEST,
                    "{\"errorMessage\":\"unknown or already answered request id\",\"errorType\":\"InvalidRequestID\"}",
                ),
            }
        }
        // SnapStart: the runtime checkpoints, then asks to be restored before polling events.
        (&Method::GET, ["2018-06-01", "runtime", "restore", "next"]) => reply(StatusCode::OK, ""),
        (&Method::POST, ["2018-06-01", "runtime", "init" | "restore", "error"]) => {
            let header_type = req
                .headers()
                .get("Lambda-Runtime-Function-Error-Type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            if let Ok(mut slot) = state.init_error.lock() {
                *slot = Some(FunctionError::from_post(header_type.as_deref(), body));
            }
            reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
        }
        _ => reply(StatusCode::NOT_FOUND, "not a Runtime API route"),
    };
    Ok(response)
}

async fn next(state: &State) -> Reply {
    let queued = {
        let mut queue = state.queue_rx.lock().await;
        queue.recv().await
    };
    let Some(Queued {
        request,
        reply: waiter,
    }) = queued
    else {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "runtime API stopped");
    };
    let deadline_ms = match request.deadline {
        Deadline::Timeout(timeout) => {
            now_ms().saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
        }
        Deadline::At(ms) => ms,
    };
    if let Ok(mut in_flight) = state.in_flight.lock() {
        in_flight.insert(request.request_id.clone(), waiter);
    }
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &request.request_id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header(
            "Lambda-Runtime-Invoked-Function-Arn",
            request
                .function_arn
                .as_deref()
                .unwrap_or(&state.default_arn),
        );
    if let Some(trace) = &request.trace_header {
        builder = builder.header("Lambda-Runtime-Trace-Id", trace);
    }
    if let Some(context) = &request.client_context {
        builder = builder.header("Lambda-Runtime-Client-Context", context);
    }
    if let Some(tenant) = &request.tenant_id {
        builder = builder.header("Lambda-Runtime-Aws-Tenant-Id", tenant);
    }
    builder
        .body(Full::new(request.payload))
        .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, "invalid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_splits_into_prelude_body_and_the_error_lambda_runtime_writes_last() {
        let mut bytes = br#"{"statusCode":200,"headers":{"content-type":"text/csv"}}"#.to_vec();
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(b"row-0\nrow-1\n");
        bytes.extend_from_slice(
            b"Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: ZGlzayBnb25l\r\n",
        );
        let streamed = StreamedResponse::parse(&bytes, 4, None);
        assert_eq!(streamed.prelude.unwrap()["statusCode"], 200);
        assert_eq!(streamed.body, "row-0\nrow-1\n");
        let error = streamed.error.unwrap();
        assert_eq!(error.error_type, "Runtime.StreamError");
        assert_eq!(error.error_message, "disk gone");
        assert_eq!(streamed.chunks, 4);
    }

    #[test]
    fn a_stream_without_prelude_and_an_error_in_http_trailers() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(ERROR_TYPE_TRAILER, "Runtime.StreamError".parse().unwrap());
        trailers.insert(ERROR_BODY_TRAILER, "b29wcw==".parse().unwrap());
        let streamed = StreamedResponse::parse(b"plain", 1, Some(&trailers));
        assert!(streamed.prelude.is_none());
        assert_eq!(streamed.body, "plain");
        assert_eq!(streamed.error.unwrap().error_message, "oops");
        let clean = StreamedResponse::parse(b"plain", 1, None);
        assert!(clean.error.is_none());
    }
}
