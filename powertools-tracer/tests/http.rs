//! HTTP services run by `lambda_http` (an axum `Router`, a tower `service_fn`): the
//! `## <handler>` subsegment with the X-Ray `http` block and the `Route` annotation, for REST,
//! HTTP API, ALB and function URL requests.

#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, reason = "these handlers panic on purpose")]

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use lambda_http::Body;
use powertools_core::{ColdStart, catch_panic};
use powertools_testing::{events, test_event, xray};
use powertools_tracer::{InMemorySink, ROUTE_ANNOTATION, Tracer};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};

use common::{PARENT, ROOT, builder, header};

fn tracer(extra: &[(&str, &str)]) -> (Tracer, InMemorySink) {
    let sink = InMemorySink::new();
    (builder(extra).sink(sink.clone()).build().unwrap(), sink)
}

/// Every subsegment as the daemon would receive it, validated against the X-Ray schema.
fn documents(sink: &InMemorySink) -> Vec<Value> {
    sink.subsegments()
        .iter()
        .map(|s| xray::check_datagram(&s.to_datagram().expect("fits one datagram")).unwrap())
        .collect()
}

/// The one subsegment sent: the handler's.
fn handler_document(sink: &InMemorySink) -> Value {
    let mut docs = documents(sink);
    assert_eq!(docs.len(), 1, "{docs:#?}");
    let doc = docs.remove(0);
    assert_eq!(doc["name"], "## bootstrap");
    assert_eq!(doc["trace_id"], ROOT);
    assert_eq!(doc["parent_id"], PARENT);
    assert_eq!(doc["annotations"]["Service"], "orders");
    doc
}

/// A REST API (API Gateway v1) proxy event for `GET /prod/orders/7` on the resource
/// `/orders/{id}`.
fn rest() -> String {
    events::api_gateway_rest("GET", "/orders/7")
        .path_parameter("/orders/{id}", "id", "7")
        .header("Host", "abc123.execute-api.eu-west-1.amazonaws.com")
        .header("X-Forwarded-Proto", "https")
        .query("token", "secret")
        .request_id("rest-request-1")
        .build()
        .to_string()
}

/// An HTTP API (API Gateway v2) event for `<method> <path>` on the route `<route>` (a route key
/// such as `GET /orders/{id}`, or `$default`).
fn http_api(method: &str, path: &str, route: &str) -> String {
    let route = route.split_once(' ').map_or(route, |(_, route)| route);
    events::api_gateway_http(method, path)
        .route(route)
        .header("host", "def456.execute-api.eu-west-1.amazonaws.com")
        .header("x-forwarded-proto", "https")
        .request_id("http-api-request-1")
        .build()
        .to_string()
}

/// A function URL event (the HTTP API v2 payload, route key `$default`).
fn function_url() -> String {
    events::function_url("GET", "/orders/9")
        .header("host", "xyz.lambda-url.eu-west-1.on.aws")
        .header("x-forwarded-proto", "https")
        .query("verbose", "1")
        .request_id("function-url-request-1")
        .build()
        .to_string()
}

/// An ALB event (no route, no request id in its context).
fn alb() -> String {
    events::alb("POST", "/orders/11")
        .header("host", "orders-123.eu-west-1.elb.amazonaws.com")
        .header("x-forwarded-proto", "https")
        .body("{}")
        .build()
        .to_string()
}

/// `event` as `lambda_http` hands it to the service: the request context from the event, and
/// the invocation's context (in the trace [`ROOT`], sampled or not) in the extensions.
fn request(event: &str, request_id: &str, sampled: &str) -> http::Request<Body> {
    let mut request = lambda_http::request::from_str(event).unwrap();
    let mut context = test_event(request_id, ()).context;
    context.xray_trace_id = Some(header(sampled));
    request.extensions_mut().insert(context);
    request
}

async fn order(Path(id): Path<String>) -> String {
    format!("order {id}")
}

async fn broken() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "database down")
}

async fn busy() -> StatusCode {
    StatusCode::TOO_MANY_REQUESTS
}

async fn explode() -> String {
    panic!("inventory corrupted")
}

/// The application: its routes, also under the REST API's stage prefix (`lambda_http` puts
/// the stage in the path).
fn router() -> Router {
    let routes = Router::new()
        .route("/orders/{id}", get(order).post(order))
        .route("/broken", get(broken))
        .route("/busy", get(busy))
        .route("/explode", get(explode));
    Router::new().nest("/prod", routes.clone()).merge(routes)
}

/// The tracer's layer with a fresh cold-start flag.
fn layer(t: &Tracer) -> powertools_tracer::TracerLayer {
    t.layer().with_cold_start_flag(Arc::new(ColdStart::new()))
}

async fn call_router(t: &Tracer, request: http::Request<Body>) -> http::Response<axum::body::Body> {
    layer(t).layer(router()).oneshot(request).await.unwrap()
}

#[tokio::test]
async fn a_rest_request_records_method_full_url_route_and_status() {
    let (t, sink) = tracer(&[]);
    let response = call_router(&t, request(&rest(), "r-rest", "1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = handler_document(&sink);
    assert_eq!(
        doc["http"]["request"],
        json!({"method": "GET", "url": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/orders/7"}),
        "the full URL, without the query string"
    );
    assert_eq!(doc["annotations"][ROUTE_ANNOTATION], "/orders/{id}");
    assert_eq!(doc["annotations"]["ColdStart"], true);
    assert_eq!(doc["http"]["response"]["status"], 200);
    assert_eq!(
        doc["http"]["response"]["content_length"],
        "order 7".len(),
        "known from the body"
    );
    for flag in ["error", "fault", "throttle"] {
        assert!(doc.get(flag).is_none(), "{flag} on a 200: {doc}");
    }
    assert!(doc.get("cause").is_none(), "{doc}");
    assert_eq!(
        doc["metadata"]["orders"]["bootstrap response"],
        json!({"status": 200, "content_length": 7}),
        "the status and length, never the body"
    );
}

#[tokio::test]
async fn an_http_api_request_records_its_route_key() {
    let (t, sink) = tracer(&[]);
    let event = http_api("GET", "/orders/8", "GET /orders/{id}");
    let response = call_router(&t, request(&event, "r-http", "1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = handler_document(&sink);
    assert_eq!(doc["http"]["request"]["method"], "GET");
    assert_eq!(
        doc["http"]["request"]["url"],
        "https://def456.execute-api.eu-west-1.amazonaws.com/orders/8"
    );
    assert_eq!(doc["annotations"][ROUTE_ANNOTATION], "GET /orders/{id}");
    assert_eq!(doc["http"]["response"]["status"], 200);
}

#[tokio::test]
async fn a_function_url_request_records_the_default_route() {
    let (t, sink) = tracer(&[]);
    let response = call_router(&t, request(&function_url(), "r-url", "1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = handler_document(&sink);
    assert_eq!(
        doc["http"]["request"],
        json!({"method": "GET", "url": "https://xyz.lambda-url.eu-west-1.on.aws/orders/9"})
    );
    assert_eq!(doc["annotations"][ROUTE_ANNOTATION], "$default");
    assert_eq!(doc["http"]["response"]["status"], 200);
}

#[tokio::test]
async fn an_alb_request_has_no_route() {
    let (t, sink) = tracer(&[]);
    let response = call_router(&t, request(&alb(), "r-alb", "1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = handler_document(&sink);
    assert_eq!(
        doc["http"]["request"],
        json!({"method": "POST", "url": "https://orders-123.eu-west-1.elb.amazonaws.com/orders/11"})
    );
    assert!(doc["annotations"].get(ROUTE_ANNOTATION).is_none(), "{doc}");
    assert_eq!(doc["http"]["response"]["status"], 200);
}

#[tokio::test]
async fn a_404_is_an_error_a_429_a_throttle_and_a_500_a_fault() {
    let cases = [
        ("/nowhere", 404, Some("error"), false),
        ("/busy", 429, Some("error"), true),
        ("/broken", 500, Some("fault"), false),
    ];
    for (path, status, flag, throttle) in cases {
        let (t, sink) = tracer(&[]);
        let event = http_api("GET", path, "$default");
        let response = call_router(&t, request(&event, "r-status", "1")).await;
        assert_eq!(response.status().as_u16(), status);
        let doc = handler_document(&sink);
        assert_eq!(doc["http"]["response"]["status"], status, "{path}");
        for name in ["error", "fault"] {
            let expected = flag == Some(name);
            assert_eq!(
                doc.get(name) == Some(&json!(true)),
                expected,
                "{name} for {status}: {doc}"
            );
        }
        assert_eq!(doc.get("throttle") == Some(&json!(true)), throttle, "{doc}");
        assert!(
            doc.get("cause").is_none(),
            "a status is not an exception: {doc}"
        );
    }
}

#[tokio::test]
async fn a_panicking_route_is_a_fault_and_the_panic_goes_on() {
    let (t, sink) = tracer(&[]);
    let event = http_api("GET", "/explode", "GET /explode");
    let service = layer(&t).layer(router());
    let outcome = catch_panic(|| service.oneshot(request(&event, "r-panic", "1"))).await;
    let panicked = outcome.expect_err("the panic goes on");
    assert_eq!(panicked.message(), "inventory corrupted");
    let doc = handler_document(&sink);
    assert_eq!(doc["fault"], true, "{doc}");
    assert_eq!(
        doc["cause"]["exceptions"][0]["message"],
        "inventory corrupted"
    );
    assert_eq!(doc["cause"]["exceptions"][0]["type"], "panic");
    assert_eq!(doc["http"]["request"]["method"], "GET");
    assert_eq!(doc["annotations"][ROUTE_ANNOTATION], "GET /explode");
    assert!(doc["http"].get("response").is_none(), "no response: {doc}");
}

/// A `service_fn` as `lambda_http::run` takes it, failing for `/fail`.
async fn plain(request: http::Request<Body>) -> Result<http::Response<String>, lambda_http::Error> {
    match request.uri().path() {
        "/fail" => Err("payment service unreachable".into()),
        "/gone" => Ok(http::Response::builder()
            .status(410)
            .header("content-length", "4")
            .body("gone".to_owned())?),
        _ => Ok(http::Response::new("done".to_owned())),
    }
}

#[tokio::test]
async fn a_service_fn_records_the_same_and_its_error_is_a_fault() {
    let (t, sink) = tracer(&[]);
    let mut service = layer(&t).layer(tower::service_fn(plain));

    let ok = service
        .ready()
        .await
        .unwrap()
        .call(request(&rest(), "r-fn-1", "1"))
        .await
        .unwrap();
    assert_eq!(ok.body(), "done");
    let gone = service
        .ready()
        .await
        .unwrap()
        .call(request(
            &http_api("DELETE", "/gone", "DELETE /gone"),
            "r-fn-2",
            "1",
        ))
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(
            &http_api("POST", "/fail", "POST /fail"),
            "r-fn-3",
            "1",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "payment service unreachable");

    let docs = documents(&sink);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    let (ok, gone, failed) = (&docs[0], &docs[1], &docs[2]);

    assert_eq!(ok["annotations"]["ColdStart"], true);
    assert_eq!(ok["annotations"][ROUTE_ANNOTATION], "/orders/{id}");
    assert_eq!(ok["http"]["request"]["method"], "GET");
    assert_eq!(
        ok["http"]["response"],
        json!({"status": 200, "content_length": 4})
    );
    assert!(
        ok.get("error").is_none() && ok.get("fault").is_none(),
        "{ok}"
    );

    assert_eq!(gone["annotations"]["ColdStart"], false);
    assert_eq!(gone["http"]["request"]["method"], "DELETE");
    assert_eq!(
        gone["http"]["response"],
        json!({"status": 410, "content_length": 4})
    );
    assert_eq!(gone["error"], true);
    assert!(gone.get("fault").is_none(), "{gone}");

    assert_eq!(failed["annotations"][ROUTE_ANNOTATION], "POST /fail");
    assert_eq!(failed["fault"], true);
    assert_eq!(
        failed["cause"]["exceptions"][0]["message"],
        "payment service unreachable"
    );
    assert_eq!(
        failed["metadata"]["orders"]["bootstrap error"],
        "payment service unreachable"
    );
    assert!(failed["http"].get("response").is_none(), "{failed}");
}

#[tokio::test]
async fn without_capture_response_only_the_http_block_has_the_status() {
    let (t, sink) = tracer(&[("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")]);
    call_router(&t, request(&rest(), "r-quiet", "1")).await;
    let doc = handler_document(&sink);
    assert_eq!(doc["http"]["response"]["status"], 200);
    assert!(doc.get("metadata").is_none(), "{doc}");
}

#[tokio::test]
async fn unsampled_requests_and_requests_without_a_lambda_context_record_nothing() {
    let (t, sink) = tracer(&[]);
    let response = call_router(&t, request(&rest(), "r-unsampled", "0")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut bare = lambda_http::request::from_str(&rest()).unwrap();
    bare.extensions_mut().remove::<lambda_runtime::Context>();
    let response = call_router(&t, bare).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(sink.subsegments().is_empty(), "{:#?}", sink.subsegments());
}

/// The router's error type is `Infallible`: the layer keeps it.
#[test]
fn the_layered_router_is_still_infallible() {
    fn error_of<S: Service<http::Request<Body>, Error = Infallible>>(_: &S) {}
    let (t, _) = tracer(&[]);
    error_of(&layer(&t).layer(router()));
}

/// Over OTLP (feature `otel`), an HTTP request's handler span is an `http` trigger with the
/// request's method, full URL and the response's status.
#[cfg(feature = "otel")]
#[tokio::test]
async fn over_otlp_an_http_request_is_an_http_trigger() {
    use powertools_testing::otlp::{OtlpReceiver, attribute};

    let receiver = OtlpReceiver::start().unwrap();
    let t = builder(&[])
        .enabled(true)
        .otlp_endpoint(receiver.traces_url())
        .build()
        .unwrap();
    let response = call_router(&t, request(&rest(), "r-otlp", "1")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let spans = OtlpReceiver::spans(&receiver.requests());
    let handler = spans.iter().find(|s| s.name == "## bootstrap").unwrap();
    let get = |key: &str| attribute(&handler.attributes, key);
    assert_eq!(get("faas.trigger"), Some(json!("http")));
    assert_eq!(get("faas.invocation_id"), Some(json!("r-otlp")));
    assert_eq!(get("http.request.method"), Some(json!("GET")));
    assert_eq!(
        get("url.full"),
        Some(json!(
            "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/orders/7"
        ))
    );
    assert_eq!(get("http.response.status_code"), Some(json!(200)));
    assert_eq!(get(ROUTE_ANNOTATION), Some(json!("/orders/{id}")));
}
