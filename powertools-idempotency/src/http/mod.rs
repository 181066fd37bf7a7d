//! HTTP functions: [`IdempotencyHook`] around a `lambda_http` service or an axum `Router`,
//! keyed by the request body or by an `Idempotency-Key` header, replaying the stored status,
//! headers and body (see "HTTP functions" in the crate docs).

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use md5::{Digest, Md5};
use powertools_core::{BoxFuture, Invocation, InvocationHook, Panicked};
use serde_json::{Value, json};

use crate::engine::{Codec, Encoded, Idempotency};
use crate::error::IdempotencyError;
use crate::hash::hex;
use crate::layer::IdempotencyHook;
use crate::response::fit_json;

pub(crate) mod config;

use config::StatusFilter;

/// Response headers that are not stored, so not replayed: the hop-by-hop fields of RFC 9110
/// §7.6.1 (and those a `Connection` field names), and `date`, which describes the original
/// response's moment rather than its content.
const NOT_STORED_HEADERS: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "date",
];

/// The problem types of the RFC 9457 bodies this hook answers with.
const PROBLEM_KEY_MISSING: &str =
    "https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/#missing-key";
const PROBLEM_KEY_REUSED: &str =
    "https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/#key-reused";
const PROBLEM_IN_PROGRESS: &str =
    "https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/#in-progress";

/// An RFC 9457 problem the hook answers with instead of running the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// 400: the request carries no key (or a malformed one) where one is required.
    KeyMissing,
    /// 400: more than one key field.
    KeyAmbiguous,
    /// 422: the key was used for a request with another payload.
    KeyReused,
    /// 409: a request with the same key is still being processed.
    InProgress,
}

impl Problem {
    fn response<RB: From<Vec<u8>>>(self) -> http::Response<RB> {
        let (status, kind, title, detail) = match self {
            Self::KeyMissing => (
                StatusCode::BAD_REQUEST,
                PROBLEM_KEY_MISSING,
                "Idempotency key is missing",
                "This operation is idempotent and requires an idempotency key: send one (in the Idempotency-Key header field when the key is a header) and retry.",
            ),
            Self::KeyAmbiguous => (
                StatusCode::BAD_REQUEST,
                PROBLEM_KEY_MISSING,
                "Idempotency key is ambiguous",
                "The request carries more than one idempotency key field: send exactly one.",
            ),
            Self::KeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                PROBLEM_KEY_REUSED,
                "Idempotency key is already used",
                "This idempotency key was already used for a request with another payload: a key must not be reused across different payloads of this operation.",
            ),
            Self::InProgress => (
                StatusCode::CONFLICT,
                PROBLEM_IN_PROGRESS,
                "A request is outstanding for this idempotency key",
                "A request with the same idempotency key is being processed: retry after it completes.",
            ),
        };
        let body = json!({
            "type": kind,
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        });
        let mut response = http::Response::new(RB::from(body.to_string().into_bytes()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// What [`IdempotencyHook`] decided for an HTTP request, between `start` and the handler's
/// response (opaque).
#[derive(Debug)]
pub struct HttpState(Plan);

#[derive(Debug)]
enum Plan {
    /// Run the handler without idempotency (disabled, a method not covered, no key).
    Pass,
    /// Run through the engine.
    Keyed {
        key: String,
        validation: Option<String>,
    },
    /// Answer with a problem, without running the handler.
    Refuse(Problem),
    /// Fail with an `IdempotencySerializationError` (the validation expression failed).
    Fail(String),
}

/// The value of the key header: a Structured Field string (`"..."`, RFC 8941) is unquoted, a
/// bare token is taken as it is. `None` when absent or empty.
fn header_key(headers: &http::HeaderMap, name: &HeaderName) -> Result<Option<Value>, Problem> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Problem::KeyAmbiguous);
    }
    let bytes = value.as_bytes().trim_ascii();
    let key = match bytes {
        [b'"', inner @ .., b'"'] => {
            let mut unquoted = Vec::with_capacity(inner.len());
            let mut escaped = false;
            for &byte in inner {
                if escaped || byte != b'\\' {
                    unquoted.push(byte);
                    escaped = false;
                } else {
                    escaped = true;
                }
            }
            unquoted
        }
        _ => bytes.to_vec(),
    };
    if key.is_empty() {
        return Ok(None);
    }
    Ok(Some(match String::from_utf8(key) {
        Ok(text) => Value::String(text),
        Err(not_utf8) => json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(not_utf8.as_bytes())
        }),
    }))
}

/// The request body as JSON for the key and validation expressions (`null` when empty).
fn body_json(body: &[u8]) -> Result<Value, serde_json::Error> {
    if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(body)
    }
}

/// The payload fingerprint stored with a header-keyed record: MD5 (hex) of the method, the
/// path and the body bytes.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut md5 = Md5::new();
    md5.update(method.as_str().as_bytes());
    md5.update(b"\n");
    md5.update(path.as_bytes());
    md5.update(b"\n");
    md5.update(body);
    hex(&md5.finalize())
}

impl Idempotency {
    /// What to do with `request` (inside the invocation scope, so the key is scoped by tenant).
    fn http_plan(&self, request: &http::Request<lambda_http::Body>) -> Plan {
        let inner = self.inner();
        let config = &inner.http;
        if inner.disabled || !config.methods.contains(request.method()) {
            return Plan::Pass;
        }
        let body: &[u8] = request.body().as_ref();
        let path = request.uri().path();
        let (data, validation) = match &config.key_header {
            Some(name) => {
                let data = match header_key(request.headers(), name) {
                    Ok(data) => data,
                    Err(problem) => return Plan::Refuse(problem),
                };
                let validation = match &inner.validation {
                    Some(_) => {
                        let payload = body_json(body).unwrap_or(Value::Null);
                        match self.validation_hash(&payload) {
                            Ok(validation) => validation,
                            Err(reason) => return Plan::Fail(reason),
                        }
                    }
                    None => Some(fingerprint(request.method(), path, body)),
                };
                let reason = format!("no {name} header");
                (data.ok_or(reason), validation)
            }
            None => {
                let payload = body_json(body);
                let data = match (&inner.key, payload.as_ref()) {
                    (Some(selector), Ok(payload)) => selector
                        .select(payload)
                        .map(std::borrow::Cow::into_owned)
                        .map_err(|e| e.to_string())
                        .and_then(|data| {
                            (!crate::key::is_missing_key(&data))
                                .then_some(data)
                                .ok_or_else(|| "the key data is null or empty".to_owned())
                        }),
                    (Some(_), Err(_)) => Err("the request body is not JSON".to_owned()),
                    (None, _) if body.is_empty() => Err("the request body is empty".to_owned()),
                    (None, Ok(payload)) => Ok(payload.clone()),
                    (None, Err(_)) => Ok(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(body),
                    )),
                };
                let validation = match payload {
                    Ok(payload) => self.validation_hash(&payload),
                    Err(_) => self.validation_hash(&Value::Null),
                };
                let validation = match validation {
                    Ok(validation) => validation,
                    Err(reason) => return Plan::Fail(reason),
                };
                // The same body sent to two routes is two keys.
                let data = data.map(
                    |data| json!({"method": request.method().as_str(), "path": path, "key": data}),
                );
                (data, validation)
            }
        };
        match data {
            Ok(data) => Plan::Keyed {
                key: self.record_key(&inner.hash_mode.hash(&data)),
                validation,
            },
            Err(reason) => match self.no_key::<()>(&reason) {
                Ok(()) => Plan::Pass,
                Err(_) => Plan::Refuse(Problem::KeyMissing),
            },
        }
    }
}

/// A response the engine runs with: collected (its body read whole, to be stored) or passed
/// through untouched (a status that is not stored).
enum HttpOutcome<RB> {
    Collected {
        parts: http::response::Parts,
        body: Bytes,
    },
    Passed(http::Response<RB>),
}

impl<RB: From<Vec<u8>>> HttpOutcome<RB> {
    fn into_response(self) -> http::Response<RB> {
        match self {
            Self::Collected { parts, body } => {
                http::Response::from_parts(parts, RB::from(Vec::from(body)))
            }
            Self::Passed(response) => response,
        }
    }
}

/// Why the engine's call failed: the handler's error, or its response body could not be read.
enum HttpFailure<E> {
    Handler(E),
    Body(String),
}

/// The stored form of an HTTP response (see "HTTP functions" in the crate docs).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredResponse {
    #[serde(rename = "statusCode")]
    status: u16,
    /// `[name, value]`, or `[name, base64 of the value, "base64"]` for a value that is not
    /// UTF-8; in order, repeated names kept.
    headers: Vec<Vec<String>>,
    body: String,
    #[serde(rename = "isBase64Encoded")]
    base64: bool,
}

/// Writes and reads [`StoredResponse`]s.
struct HttpCodec {
    store_status: Arc<StatusFilter>,
}

impl<RB> Codec<HttpOutcome<RB>> for HttpCodec {
    fn encode(&self, response: &HttpOutcome<RB>, max: usize) -> Encoded {
        let HttpOutcome::Collected { parts, body } = response else {
            return Encoded::Skip;
        };
        if !(self.store_status)(parts.status) {
            return Encoded::Skip;
        }
        let named: Vec<String> = parts
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                !NOT_STORED_HEADERS.contains(&name.as_str())
                    && !named.iter().any(|n| n == name.as_str())
            })
            .map(|(name, value)| match value.to_str() {
                Ok(text) => vec![name.as_str().to_owned(), text.to_owned()],
                Err(_) => vec![
                    name.as_str().to_owned(),
                    base64::engine::general_purpose::STANDARD.encode(value.as_bytes()),
                    "base64".to_owned(),
                ],
            })
            .collect();
        let (body, base64) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
        };
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            headers,
            body,
            base64,
        };
        match serde_json::to_string(&stored)
            .map_err(|e| e.to_string())
            .and_then(|json| fit_json(json, max).map_err(|e| e.to_string()))
        {
            Ok(data) => Encoded::Store(data),
            Err(reason) => Encoded::Unstorable(reason),
        }
    }

    fn decode(&self, json: &str) -> Result<HttpOutcome<RB>, String> {
        let unreadable = |what: &str| format!("is not a stored HTTP response ({what})");
        let stored: StoredResponse = crate::response::read_response(json)
            .map_err(|e| format!("is not a stored HTTP response: {e}"))?;
        let mut builder = http::Response::builder()
            .status(StatusCode::from_u16(stored.status).map_err(|_| unreadable("status"))?);
        for header in &stored.headers {
            let (name, value) = match header.as_slice() {
                [name, value] => (name, HeaderValue::from_str(value)),
                [name, value, encoding] if encoding == "base64" => (
                    name,
                    HeaderValue::from_bytes(
                        &base64::engine::general_purpose::STANDARD
                            .decode(value)
                            .map_err(|_| unreadable("a header value"))?,
                    ),
                ),
                _ => return Err(unreadable("a header")),
            };
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| unreadable("a header name"))?;
            builder = builder.header(name, value.map_err(|_| unreadable("a header value"))?);
        }
        let body = if stored.base64 {
            base64::engine::general_purpose::STANDARD
                .decode(&stored.body)
                .map_err(|_| unreadable("the body"))?
        } else {
            stored.body.into_bytes()
        };
        let (parts, ()) = builder
            .body(())
            .map_err(|_| unreadable("a header"))?
            .into_parts();
        Ok(HttpOutcome::Collected {
            parts,
            body: Bytes::from(body),
        })
    }
}

/// Reads the body of a response whose status is stored; passes any other through unread.
async fn collect<RB, E>(
    response: http::Response<RB>,
    store_status: &StatusFilter,
) -> Result<HttpOutcome<RB>, HttpFailure<E>>
where
    RB: http_body::Body,
    RB::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !store_status(response.status()) {
        return Ok(HttpOutcome::Passed(response));
    }
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|error| {
        HttpFailure::Body(format!(
            "the handler's response body could not be read: {}",
            error.into()
        ))
    })?;
    Ok(HttpOutcome::Collected {
        parts,
        body: body.to_bytes(),
    })
}

/// For `lambda_http` services and axum routers (behind the `http` feature): see "HTTP
/// functions" in the crate docs. A duplicate whose key is in progress gets a `409`, a reused
/// key with another payload a `422`, a missing required key a `400` (RFC 9457 problem
/// details); other idempotency failures (the store) are the service's error.
impl<RB, E> InvocationHook<http::Request<lambda_http::Body>, http::Response<RB>, E>
    for IdempotencyHook
where
    RB: http_body::Body + From<Vec<u8>> + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Send + 'static,
{
    type Error = IdempotencyError<E>;
    type State = HttpState;
    type Around<F>
        = BoxFuture<'static, Result<http::Response<RB>, IdempotencyError<E>>>
    where
        F: Future<Output = Result<http::Response<RB>, E>> + Send + 'static;

    fn start(
        &self,
        _: Option<&Invocation>,
        request: &http::Request<lambda_http::Body>,
    ) -> HttpState {
        HttpState(self.idempotency.http_plan(request))
    }

    fn around<F>(&self, state: &mut HttpState, handler: F) -> Self::Around<F>
    where
        F: Future<Output = Result<http::Response<RB>, E>> + Send + 'static,
    {
        // The state is not read after this: `finish` and `panicked` do nothing with it.
        let plan = std::mem::replace(&mut state.0, Plan::Pass);
        let idempotency = self.idempotency.clone();
        Box::pin(async move {
            let (key, validation) = match plan {
                Plan::Pass => return handler.await.map_err(IdempotencyError::Handler),
                Plan::Refuse(problem) => return Ok(problem.response()),
                Plan::Fail(reason) => return Err(IdempotencyError::Serialization(reason)),
                Plan::Keyed { key, validation } => (key, validation),
            };
            let store_status = Arc::clone(&idempotency.inner().http.store_status);
            let codec = HttpCodec {
                store_status: Arc::clone(&store_status),
            };
            let outcome = idempotency
                .run_keyed(key, validation, &codec, move || async move {
                    let response = handler.await.map_err(HttpFailure::Handler)?;
                    collect(response, &*store_status).await
                })
                .await;
            match outcome {
                Ok(outcome) => Ok(outcome.into_response().into_response()),
                Err(IdempotencyError::AlreadyInProgress { .. }) => {
                    Ok(Problem::InProgress.response())
                }
                Err(IdempotencyError::Validation { .. }) => Ok(Problem::KeyReused.response()),
                Err(error) => Err(error.map_handler(|failure| match failure {
                    HttpFailure::Handler(error) => IdempotencyError::Handler(error),
                    HttpFailure::Body(reason) => IdempotencyError::Serialization(reason),
                })),
            }
        })
    }

    fn finish(
        &self,
        _: HttpState,
        result: Result<http::Response<RB>, IdempotencyError<E>>,
    ) -> Result<http::Response<RB>, IdempotencyError<E>> {
        result
    }

    /// Nothing more to do: the engine deleted the claim before the panic reached the layer.
    fn panicked(&self, _: HttpState, _: &Panicked) {}

    fn ready_error(&self, error: E) -> IdempotencyError<E> {
        IdempotencyError::Handler(error)
    }
}
