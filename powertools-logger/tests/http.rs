//! The logger around HTTP services run by `lambda_http` (an axum `Router`, a tower
//! `service_fn`): the invocation's keys, correlation ids from the request context or a header,
//! the request line with redacted headers, buffers and panics, as for a `LambdaEvent`.

#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, reason = "a route panics on purpose")]

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use lambda_http::Body;
use powertools_core::{ColdStart, catch_panic};
use powertools_logger::{BufferConfig, CorrelationPath, Logger, LoggerBuilder, LoggerError};
use powertools_testing::{CapturedOutput, events, lambda_env, test_event};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::Dispatch;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

const TRACE_HEADER: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1";

fn builder(extra_env: &[(&str, &str)]) -> (LoggerBuilder, CapturedOutput) {
    let captured = CapturedOutput::new();
    let env = lambda_env(
        [
            ("POWERTOOLS_SERVICE_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
        ]
        .iter()
        .chain(extra_env)
        .copied(),
    );
    let builder = Logger::builder()
        .env(env.with_reporter(|_| {}))
        .writer(captured.line_writer());
    (builder, captured)
}

fn lines(captured: &CapturedOutput) -> Vec<Value> {
    captured
        .json_lines()
        .unwrap_or_else(|e| panic!("{e}: {}", captured.text()))
}

fn dispatch(logger: &Logger) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer()))
}

/// A REST API (API Gateway v1) proxy event for `POST /prod/orders/7`, with secrets in its
/// headers, query string and body.
fn rest() -> String {
    events::api_gateway_rest("POST", "/orders/7")
        .path_parameter("/orders/{id}", "id", "7")
        .header("Host", "abc123.execute-api.eu-west-1.amazonaws.com")
        .header("Authorization", "Bearer rest-secret")
        .header("X-Api-Key", "key-secret")
        .header("X-Correlation-Id", "corr-from-header")
        .query("token", "query-secret")
        .body(r#"{"sku":"BOOK","password":"body-secret"}"#)
        .request_id("rest-request-1")
        .build()
        .to_string()
}

/// An HTTP API (API Gateway v2) event on the `$default` route, with a session cookie and
/// `headers`.
fn http_api(path: &str, request_id: &str, headers: Value) -> String {
    let mut builder = events::api_gateway_http("GET", path)
        .route("$default")
        .header("host", "def456.execute-api.eu-west-1.amazonaws.com")
        .header("cookie", "session=cookie-secret")
        .request_id(request_id);
    for (name, value) in headers.as_object().unwrap() {
        builder = builder.header(name, value.as_str().unwrap());
    }
    builder.build().to_string()
}

/// An ALB event: the correlation id is its trace header.
fn alb() -> String {
    events::alb("GET", "/orders/11")
        .header("host", "orders-123.eu-west-1.elb.amazonaws.com")
        .header(
            "x-amzn-trace-id",
            "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
        )
        .build()
        .to_string()
}

/// `event` as `lambda_http` hands it to the service, with the invocation's context.
fn request(event: &str, request_id: &str) -> http::Request<Body> {
    let mut request = lambda_http::request::from_str(event).unwrap();
    let mut context = test_event(request_id, ()).context;
    context.xray_trace_id = Some(TRACE_HEADER.to_owned());
    request.extensions_mut().insert(context);
    request
}

async fn order(Path(id): Path<String>) -> String {
    tracing::info!(order_id = id.as_str(), "order read");
    format!("order {id}")
}

async fn failing() -> Result<String, StatusCode> {
    tracing::debug!("looking up the order");
    tracing::error!("the order store is down");
    Err(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn explode() -> String {
    tracing::debug!("about to explode");
    panic!("inventory corrupted")
}

fn router() -> Router {
    let routes = Router::new()
        .route("/orders/{id}", get(order).post(order))
        .route("/failing", get(failing))
        .route("/explode", get(explode));
    Router::new().nest("/prod", routes.clone()).merge(routes)
}

/// Calls the router through the logger's layer, inside the logger's subscriber.
async fn call(logger: &Logger, request: http::Request<Body>) -> http::Response<axum::body::Body> {
    logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(router())
        .oneshot(request)
        .with_subscriber(dispatch(logger))
        .await
        .unwrap()
}

/// The line whose message is `message`.
fn line<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"] == message)
        .unwrap_or_else(|| panic!("no line {message:?} in {lines:#?}"))
}

#[tokio::test]
async fn lines_carry_the_invocation_keys_and_the_request_context_id_by_kind() {
    let cases = [
        (rest(), "r-rest", "rest-request-1"),
        (
            http_api("/orders/8", "http-api-request-1", json!({})),
            "r-http",
            "http-api-request-1",
        ),
        (alb(), "r-alb", "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"),
    ];
    for (event, request_id, correlation) in cases {
        let (builder, captured) = builder(&[]);
        let logger = builder.build().unwrap();
        let response = call(&logger, request(&event, request_id)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let lines = lines(&captured);
        let read = line(&lines, "order read");
        assert_eq!(read["function_request_id"], request_id, "{read}");
        assert_eq!(read["correlation_id"], correlation, "{read}");
        assert_eq!(read["cold_start"], true, "{read}");
        assert_eq!(read["service"], "orders");
        assert_eq!(read["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    }
}

#[tokio::test]
async fn a_correlation_header_wins_and_falls_back_to_the_context_when_absent() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .correlation_id_header("X-Correlation-Id")
        .build()
        .unwrap();
    call(&logger, request(&rest(), "r-1")).await;
    let event = http_api("/orders/8", "http-api-request-2", json!({}));
    call(&logger, request(&event, "r-2")).await;
    let lines = lines(&captured);
    let ids: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "order read")
        .map(|l| l["correlation_id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("corr-from-header"), json!("http-api-request-2")]
    );
}

#[tokio::test]
async fn a_built_in_path_reads_its_own_kind_and_a_custom_path_finds_nothing() {
    let (builder, captured) = builder(&[]);
    let logger = builder
        .correlation_id_path(CorrelationPath::ApplicationLoadBalancer)
        .build()
        .unwrap();
    call(&logger, request(&alb(), "r-1")).await;
    call(&logger, request(&rest(), "r-2")).await;
    let (builder, custom_captured) = builder_with_custom();
    let custom = builder.build().unwrap();
    call(&custom, request(&rest(), "r-3")).await;

    let lines = lines(&captured);
    let read: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "order read")
        .collect();
    assert_eq!(
        read[0]["correlation_id"],
        "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"
    );
    assert!(read[1].get("correlation_id").is_none(), "{}", read[1]);
    let custom_lines = self::lines(&custom_captured);
    let read = line(&custom_lines, "order read");
    assert!(read.get("correlation_id").is_none(), "{read}");
}

fn builder_with_custom() -> (LoggerBuilder, CapturedOutput) {
    let (builder, captured) = builder(&[]);
    (
        builder.correlation_id_path(CorrelationPath::Custom(
            "headers.\"X-Correlation-Id\"".into(),
        )),
        captured,
    )
}

#[tokio::test]
async fn the_request_line_has_method_path_and_redacted_headers_and_the_body_only_when_asked() {
    for with_body in [false, true] {
        let (builder, captured) = builder(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]);
        let logger = builder
            .redact_key("password")
            .redact_key("x-correlation-id")
            .log_http_body(with_body)
            .build()
            .unwrap();
        call(&logger, request(&rest(), "r-log")).await;
        let text = captured.text();
        for secret in [
            "rest-secret",
            "key-secret",
            "query-secret",
            "body-secret",
            "corr-from-header",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let lines = lines(&captured);
        let first = &lines[0]["message"];
        assert_eq!(first["method"], "POST", "{first}");
        assert_eq!(first["path"], "/prod/orders/7", "no query string: {first}");
        assert_eq!(first["headers"]["authorization"], "*****");
        assert_eq!(first["headers"]["x-api-key"], "*****");
        assert_eq!(first["headers"]["x-correlation-id"], "*****");
        assert_eq!(
            first["headers"]["host"],
            "abc123.execute-api.eu-west-1.amazonaws.com"
        );
        assert_eq!(lines[0]["function_request_id"], "r-log");
        if with_body {
            assert_eq!(first["body"], json!({"sku": "BOOK", "password": "*****"}));
        } else {
            assert!(first.get("body").is_none(), "{first}");
        }
    }
}

#[tokio::test]
async fn cookies_are_never_logged_and_without_log_event_no_request_line_is_written() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]);
    let logger = builder.build().unwrap();
    let event = http_api(
        "/orders/8",
        "req",
        json!({"proxy-authorization": "Basic proxy-secret"}),
    );
    call(&logger, request(&event, "r-1")).await;
    let text = captured.text();
    assert!(
        !text.contains("cookie-secret") && !text.contains("proxy-secret"),
        "{text}"
    );
    assert_eq!(lines(&captured)[0]["message"]["headers"]["cookie"], "*****");

    let (builder, captured) = builder_quiet();
    let logger = builder.build().unwrap();
    call(&logger, request(&event, "r-2")).await;
    let lines = lines(&captured);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["message"], "order read");
}

fn builder_quiet() -> (LoggerBuilder, CapturedOutput) {
    builder(&[])
}

#[tokio::test]
async fn a_5xx_route_keeps_its_buffer_only_when_it_logs_an_error_and_a_panic_flushes_it() {
    let (builder, captured) = builder(&[("POWERTOOLS_LOG_LEVEL", "INFO")]);
    let logger = builder.buffer(BufferConfig::default()).build().unwrap();
    let failing = http_api("/failing", "f", json!({}));
    let response = call(&logger, request(&failing, "r-fail")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let messages: Vec<_> = lines(&captured)
        .iter()
        .map(|l| (l["level"].clone(), l["message"].clone()))
        .collect();
    assert_eq!(
        messages,
        [
            (json!("DEBUG"), json!("looking up the order")),
            (json!("ERROR"), json!("the order store is down")),
        ],
        "the error line flushes the buffered debug line first"
    );

    captured.clear();
    let explode = http_api("/explode", "e", json!({}));
    let service = logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(router());
    let outcome = catch_panic(|| {
        service
            .oneshot(request(&explode, "r-panic"))
            .with_subscriber(dispatch(&logger))
    })
    .await;
    assert_eq!(
        outcome.expect_err("the panic goes on").message(),
        "inventory corrupted"
    );
    let lines = lines(&captured);
    assert_eq!(lines[0]["message"], "about to explode", "{lines:#?}");
    let panic_line = lines.last().unwrap();
    assert_eq!(panic_line["level"], "ERROR");
    assert_eq!(panic_line["function_request_id"], "r-panic");
    assert_eq!(panic_line["correlation_id"], "e");
    assert!(
        panic_line.to_string().contains("inventory corrupted"),
        "{panic_line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_their_own_correlation_ids() {
    let (builder, captured) = builder(&[]);
    let logger = builder.build().unwrap();
    let service = logger
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(router());
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let event = http_api(&format!("/orders/{n}"), &format!("api-{n}"), json!({}));
            let call = service.clone().oneshot(request(&event, &format!("r-{n}")));
            tokio::spawn(call.with_subscriber(dispatch(&logger)))
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let lines = lines(&captured);
    assert_eq!(lines.len(), 16);
    for line in &lines {
        let n = line["order_id"].as_str().unwrap();
        assert_eq!(line["correlation_id"], format!("api-{n}"), "{line}");
        assert_eq!(line["function_request_id"], format!("r-{n}"), "{line}");
    }
}

#[test]
fn an_invalid_correlation_header_is_refused_by_build() {
    let (builder, _) = builder(&[]);
    let error = builder
        .correlation_id_header("bad header")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, LoggerError::InvalidHeaderName(_)),
        "{error}"
    );
    assert!(error.to_string().contains("bad header"), "{error}");
}
