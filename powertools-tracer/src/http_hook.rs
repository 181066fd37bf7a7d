//! The handler hook for HTTP services (`lambda_http`, axum): the same `## <handler>`
//! subsegment as for a `LambdaEvent`, plus the X-Ray `http` block and the `Route` annotation.

use std::fmt::Display;

use http_body::Body;
use lambda_http::request::RequestContext;
use powertools_core::{Invocation, InvocationHook, Panicked};
use serde::Serialize;
use serde_json::{Value, json};

use crate::layer::{Outcome, TracerHook, TracerHookState};
use crate::segment::{Annotation, Subsegment};

/// The annotation holding the route the API matched: the REST API's resource path
/// (`/orders/{id}`), the HTTP API's route key (`GET /orders/{id}`, `$default` for function
/// URLs). A route is a short, low-cardinality string, what annotations are for: traces can be
/// filtered by it.
pub const ROUTE_ANNOTATION: &str = "Route";

/// What is kept of an HTTP response (its body is never serialized): the `response` of the
/// `http` block, and the `<handler> response` metadata with `capture_response`.
#[derive(Debug, Serialize)]
struct ResponseSummary {
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_length: Option<u64>,
}

impl ResponseSummary {
    fn of<B: Body>(response: &http::Response<B>) -> Self {
        let header = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        Self {
            status: response.status().as_u16(),
            content_length: header.or_else(|| response.body().size_hint().exact()),
        }
    }

    /// The response block, and X-Ray's flags: `error` for a 4xx (and `throttle` for a 429),
    /// `fault` for a 5xx.
    fn record(&self, subsegment: &mut Subsegment) {
        let mut block = json!({ "status": self.status });
        if let Some(length) = self.content_length {
            block["content_length"] = length.into();
        }
        match subsegment.http.get_or_insert_with(|| json!({})) {
            Value::Object(http) => {
                http.insert("response".to_owned(), block);
            }
            other => *other = json!({ "response": block }),
        }
        match self.status {
            429 => {
                subsegment.error = true;
                subsegment.throttle = true;
            }
            400..=499 => subsegment.error = true,
            500..=599 => subsegment.fault = true,
            _ => {}
        }
    }
}

/// The URL X-Ray shows: scheme, host and path when the request has them (as `lambda_http`
/// builds it from the `Host` header), else the path; never the query string.
fn request_url(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}

/// The route the API matched, from the request context `lambda_http` put in the extensions.
fn route(context: &RequestContext) -> Option<&str> {
    match context {
        RequestContext::ApiGatewayV1(context) => context.resource_path.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.route_key.as_deref(),
        RequestContext::Alb(_) => None,
        // lambda_http has more variants behind features that another crate may enable.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// For HTTP services run by `lambda_http` (an axum `Router`, a `service_fn`): the same
/// `## <handler>` subsegment as for a `LambdaEvent`, plus the `http` block (`request`
/// with `method` and `url`, `response` with `status` and `content_length` when known), and the
/// route as the [`ROUTE_ANNOTATION`] annotation. A 4xx response marks the subsegment `error`
/// (a 429 `throttle` too), a 5xx `fault`; a handler error or panic is a `fault` with a
/// `cause`, as for any handler. With `capture_response`, the `<handler> response` metadata is
/// the status and content length, never the body.
impl<B, RB, E> InvocationHook<http::Request<B>, http::Response<RB>, E> for TracerHook
where
    RB: Body,
    E: Display,
{
    type Error = E;
    type State = TracerHookState;
    type Around<F>
        = F
    where
        F: Future<Output = Result<http::Response<RB>, E>> + Send + 'static;

    fn start(&self, invocation: Option<&Invocation>, request: &http::Request<B>) -> Self::State {
        TracerHookState(invocation.and_then(|invocation| {
            self.open(invocation, |tracer, state, subsegment| {
                subsegment.http = Some(json!({
                    "request": {
                        "method": request.method().as_str(),
                        "url": request_url(request.uri()),
                    }
                }));
                let route = request.extensions().get::<RequestContext>().and_then(route);
                if let Some(route) = route {
                    let route = Annotation::String(route.to_owned());
                    tracer.annotate(state, subsegment, ROUTE_ANNOTATION, route);
                }
            })
        }))
    }

    fn around<F>(&self, _state: &mut Self::State, handler: F) -> F
    where
        F: Future<Output = Result<http::Response<RB>, E>> + Send + 'static,
    {
        handler
    }

    fn finish(
        &self,
        state: Self::State,
        result: Result<http::Response<RB>, E>,
    ) -> Result<http::Response<RB>, E> {
        if let TracerHookState(Some(state)) = state {
            match &result {
                Ok(response) => {
                    let summary = ResponseSummary::of(response);
                    self.close(&state, Outcome::Response(&summary), |subsegment| {
                        summary.record(subsegment);
                    });
                }
                Err(error) => {
                    let outcome = Outcome::<ResponseSummary>::Error(error.to_string());
                    self.close(&state, outcome, |_| {});
                }
            }
        }
        result
    }

    fn panicked(&self, state: Self::State, panic: &Panicked) {
        if let TracerHookState(Some(state)) = state {
            let outcome = Outcome::<ResponseSummary>::Panic(panic.message());
            self.close(&state, outcome, |_| {});
        }
    }

    fn ready_error(&self, error: E) -> E {
        error
    }

    /// A streamed body failed after the head was sent (`Tracer::layer().streaming()`): the
    /// handler subsegment is a fault with the failure as its cause; `finish` then records the
    /// head and the bytes sent.
    fn stream_failed(&self, state: &mut TracerHookState, error: &str) {
        if let TracerHookState(Some(state)) = state {
            state.with_handler(|handler| {
                if let Some(subsegment) = handler {
                    subsegment.record_exception(
                        format!("the response stream failed: {error}"),
                        Some(STREAM_ERROR_TYPE.to_owned()),
                        true,
                    );
                }
            });
        }
    }
}

/// The exception type of a streamed body that failed.
const STREAM_ERROR_TYPE: &str = "StreamError";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_scheme_host_and_path_but_not_the_query() {
        let full: http::Uri = "https://api.example.com/prod/orders/7?token=secret"
            .parse()
            .unwrap();
        assert_eq!(request_url(&full), "https://api.example.com/prod/orders/7");
        let path: http::Uri = "/orders/7?token=secret".parse().unwrap();
        assert_eq!(request_url(&path), "/orders/7");
    }

    #[test]
    fn statuses_set_xray_flags() {
        let flags = |status: u16| {
            let mut s = Subsegment::start("## h", "1-5759e988-bd862e3fe1be46a994272793", None, 1.0);
            ResponseSummary {
                status,
                content_length: None,
            }
            .record(&mut s);
            assert_eq!(s.http.as_ref().unwrap()["response"]["status"], status);
            (s.error, s.throttle, s.fault)
        };
        assert_eq!(flags(200), (false, false, false));
        assert_eq!(flags(302), (false, false, false));
        assert_eq!(flags(404), (true, false, false));
        assert_eq!(flags(429), (true, true, false));
        assert_eq!(flags(500), (false, false, true));
        assert_eq!(flags(503), (false, false, true));
    }

    #[test]
    fn content_length_from_the_header_or_the_body() {
        let response = http::Response::builder()
            .header("content-length", "12")
            .body(String::new())
            .unwrap();
        assert_eq!(ResponseSummary::of(&response).content_length, Some(12));
        let response = http::Response::new(String::from("hello"));
        assert_eq!(ResponseSummary::of(&response).content_length, Some(5));
    }
}
