//! HTTP requests as `lambda_http` hands them to a service (an axum `Router`, a `service_fn`):
//! their correlation id and their request line. The hook itself is in `hook.rs`, shared with
//! `LambdaEvent`.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, Request};
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};

use crate::correlation::CorrelationPath;
use crate::redaction::REDACTED;
use crate::shared::Shared;

/// Headers whose values are never logged, whatever the redaction configuration: credentials
/// (HTTP authentication, cookies, API Gateway API keys, temporary AWS credentials).
const ALWAYS_REDACTED: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// The header ALB (and Powertools' ALB correlation path) takes the correlation id from.
const TRACE_ID_HEADER: &str = "x-amzn-trace-id";

/// Whether the note about a custom correlation path on an HTTP request was written.
static CUSTOM_PATH_NOTED: AtomicBool = AtomicBool::new(false);

/// The correlation id of an HTTP request: the configured header when present, else what the
/// correlation path means for an HTTP request, else (no path set) the request's own id.
pub(crate) fn correlation_id<B>(shared: &Shared, request: &Request<B>) -> Option<String> {
    if let Some(name) = &shared.correlation_header
        && let Some(id) = header_value(request.headers(), name)
    {
        return Some(id);
    }
    match shared.correlation.as_ref().map(|c| c.path()) {
        None => default_id(request),
        Some(CorrelationPath::ApiGatewayRest)
        | Some(CorrelationPath::ApiGatewayHttp)
        | Some(CorrelationPath::FunctionUrl) => context_request_id(request),
        Some(CorrelationPath::ApplicationLoadBalancer) => trace_id_header(request),
        // Not HTTP events: nothing of theirs is in an HTTP request.
        Some(CorrelationPath::AppSyncResolver) | Some(CorrelationPath::EventBridge) => None,
        Some(CorrelationPath::Custom(expression)) => {
            if !CUSTOM_PATH_NOTED.swap(true, Ordering::Relaxed) {
                powertools_core::warn(format_args!(
                    "the custom correlation id path {expression:?} is not evaluated for HTTP requests (lambda_http does not keep the raw event): use LoggerBuilder::correlation_id_header, or set the id in the handler with set_correlation_id. This note is written once."
                ));
            }
            None
        }
    }
}

/// The id Powertools' own path for the request's kind finds: the request context's request
/// id for REST, HTTP API and function URL requests, the `x-amzn-trace-id` header for ALB.
fn default_id<B>(request: &Request<B>) -> Option<String> {
    match request.extensions().get::<RequestContext>() {
        Some(RequestContext::Alb(_)) => trace_id_header(request),
        Some(_) => context_request_id(request),
        None => None,
    }
}

/// The request id of the API Gateway (REST, HTTP API) or function URL request context.
fn context_request_id<B>(request: &Request<B>) -> Option<String> {
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => context.request_id.clone(),
        RequestContext::ApiGatewayV2(context) => context.request_id.clone(),
        RequestContext::Alb(_) => None,
        // Kinds enabled by other lambda_http features: not HTTP APIs Powertools knows.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn trace_id_header<B>(request: &Request<B>) -> Option<String> {
    header_value(request.headers(), &HeaderName::from_static(TRACE_ID_HEADER))
}

/// The first value of a header, when it is text and not empty.
fn header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    (!value.is_empty()).then(|| value.to_owned())
}

/// The request line's message: method, path (without the query string, which may carry
/// tokens), headers (redacted ones as `*****`), and the body when asked.
pub(crate) fn request_message<B: 'static>(shared: &Shared, request: &Request<B>) -> Value {
    let mut message = Map::new();
    message.insert("method".into(), request.method().as_str().into());
    message.insert("path".into(), request.uri().path().into());
    message.insert("headers".into(), headers(shared, request.headers()));
    if shared.log_http_body
        && let Some((body, base64_encoded)) = body(request.body())
    {
        message.insert("body".into(), body);
        if base64_encoded {
            message.insert("is_base64_encoded".into(), true.into());
        }
    }
    Value::Object(message)
}

/// Headers as an object: one value as a string, repeated ones as an array.
fn headers(shared: &Shared, headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let key = name.as_str();
        let value = if ALWAYS_REDACTED.contains(&key) || shared.redaction.matches(key) {
            Value::String(REDACTED.to_owned())
        } else {
            let mut values: Vec<Value> = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
                .collect();
            if values.len() == 1 {
                values.swap_remove(0)
            } else {
                Value::Array(values)
            }
        };
        out.insert(key.to_owned(), value);
    }
    Value::Object(out)
}

/// The body, for the body types a request logger can read without consuming it:
/// `lambda_http::Body` (what `lambda_http::run` hands the service), `String`, `Vec<u8>`.
/// Text that is JSON is logged as JSON (so redaction reaches its keys); binary as base64,
/// with whether it is. `None` for an empty body or another type.
fn body<B: 'static>(body: &B) -> Option<(Value, bool)> {
    let body = body as &dyn Any;
    let bytes: &[u8] = if let Some(body) = body.downcast_ref::<lambda_http::Body>() {
        match body {
            lambda_http::Body::Empty => return None,
            lambda_http::Body::Text(text) => text.as_bytes(),
            lambda_http::Body::Binary(bytes) => bytes,
            #[allow(unreachable_patterns)]
            _ => return None,
        }
    } else if let Some(text) = body.downcast_ref::<String>() {
        text.as_bytes()
    } else {
        body.downcast_ref::<Vec<u8>>()?
    };
    if bytes.is_empty() {
        return None;
    }
    Some(match std::str::from_utf8(bytes) {
        Ok(text) => (
            serde_json::from_str::<Value>(text)
                .ok()
                .filter(|v| v.is_object() || v.is_array())
                .unwrap_or_else(|| Value::String(text.to_owned())),
            false,
        ),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            true,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_the_logger_can_read() {
        assert_eq!(body(&lambda_http::Body::Empty), None);
        assert_eq!(
            body(&lambda_http::Body::from("plain")),
            Some((json!("plain"), false))
        );
        assert_eq!(
            body(&lambda_http::Body::from(r#"{"a":1}"#)),
            Some((json!({"a": 1}), false))
        );
        assert_eq!(body(&"42".to_owned()), Some((json!("42"), false)));
        assert_eq!(
            body(&lambda_http::Body::from(vec![0xff, 0x00])),
            Some((json!("/wA="), true))
        );
        assert_eq!(body(&vec![b'o', b'k']), Some((json!("ok"), false)));
        assert_eq!(body(&()), None);
    }
}
