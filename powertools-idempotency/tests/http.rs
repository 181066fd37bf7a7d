//! The hook around HTTP services (an axum `Router`, a `lambda_http` `service_fn`): keyed by an
//! `Idempotency-Key` header or by the body, replaying status, headers and body, answering
//! problems with RFC 9457 bodies.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use http_body_util::BodyExt as _;
use powertools_core::Env;
use powertools_idempotency::{Idempotency, IdempotencyBuilder, InMemoryStore, Record};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Counts the handler's runs and holds what the routes need.
#[derive(Clone, Default)]
struct App {
    runs: Arc<AtomicUsize>,
    /// The status the failing route answers with, run after run.
    statuses: Arc<Mutex<Vec<u16>>>,
    /// Opened by the slow route once it runs; it waits for the release.
    started: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

async fn create_order(State(app): State<App>, body: String) -> impl IntoResponse {
    let run = app.runs.fetch_add(1, Ordering::SeqCst) + 1;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-order-run", HeaderValue::from(run));
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    headers.insert(
        "date",
        HeaderValue::from_static("Wed, 02 Dec 2026 19:00:00 GMT"),
    );
    headers.insert("connection", HeaderValue::from_static("keep-alive"));
    let body = json!({"order": format!("o-{run}"), "received": body}).to_string();
    (StatusCode::CREATED, headers, body)
}

async fn failing(State(app): State<App>) -> impl IntoResponse {
    app.runs.fetch_add(1, Ordering::SeqCst);
    let status = app.statuses.lock().unwrap().remove(0);
    (
        StatusCode::from_u16(status).unwrap(),
        format!("status {status}"),
    )
}

async fn binary(State(app): State<App>) -> impl IntoResponse {
    app.runs.fetch_add(1, Ordering::SeqCst);
    (
        [("content-type", "application/octet-stream")],
        vec![0u8, 159, 146, 150, 255, 10, 13, 0],
    )
}

async fn slow(State(app): State<App>) -> impl IntoResponse {
    app.runs.fetch_add(1, Ordering::SeqCst);
    app.started.notify_one();
    app.release.notified().await;
    "done"
}

async fn list(State(app): State<App>) -> impl IntoResponse {
    app.runs.fetch_add(1, Ordering::SeqCst);
    "[]"
}

fn router(app: &App) -> Router {
    Router::new()
        .route("/orders", post(create_order).get(list))
        .route("/carts", post(create_order))
        .route("/failing", post(failing))
        .route("/binary", post(binary))
        .route("/slow", post(slow))
        .with_state(app.clone())
}

fn builder(store: Arc<InMemoryStore>) -> IdempotencyBuilder {
    Idempotency::builder(store).env(Env::from_pairs([(
        "AWS_LAMBDA_FUNCTION_NAME",
        "orders-api",
    )]))
}

fn request(
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> http::Request<lambda_http::Body> {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.body(lambda_http::Body::from(body)).unwrap()
}

/// A response as the test compares it: status, headers, body bytes.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn without(&self, names: &[&str]) -> Self {
        Self {
            headers: self
                .headers
                .iter()
                .filter(|(n, _)| !names.contains(&n.as_str()))
                .cloned()
                .collect(),
            ..self.clone()
        }
    }
}

async fn call<S>(service: &S, request: http::Request<lambda_http::Body>) -> Seen
where
    S: tower::Service<
            http::Request<lambda_http::Body>,
            Response = http::Response<AxumBody>,
            Error = powertools_idempotency::IdempotencyError<std::convert::Infallible>,
        > + Clone,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Seen {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

fn assert_problem(seen: &Seen, status: u16, title: &str) {
    assert_eq!(seen.status, status);
    assert_eq!(
        seen.header("content-type"),
        Some(&b"application/problem+json"[..])
    );
    let problem = seen.json();
    assert_eq!(problem["status"], status);
    assert_eq!(problem["title"], title);
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://")),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{problem}"
    );
    assert_eq!(problem.as_object().unwrap().len(), 4, "{problem}");
}

#[tokio::test]
async fn a_header_keyed_request_runs_once_and_replays_status_headers_and_body() -> TestResult {
    let app = App::default();
    let store = Arc::new(InMemoryStore::new());
    let replayed = Arc::new(Mutex::new(None::<Record>));
    let seen_record = Arc::clone(&replayed);
    let idempotency = builder(Arc::clone(&store))
        .http_key_header("Idempotency-Key")
        .on_replay(move |record| *seen_record.lock().unwrap() = Some(record.clone()))
        .build()?;
    let service = idempotency.layer().layer(router(&app));

    let first = call(
        &service,
        request("POST", "/orders", Some("k-1"), r#"{"sku":"A"}"#),
    )
    .await;
    assert_eq!(first.status, 201);
    assert_eq!(
        first.json(),
        json!({"order": "o-1", "received": r#"{"sku":"A"}"#})
    );
    let again = call(
        &service,
        request("POST", "/orders", Some("k-1"), r#"{"sku":"A"}"#),
    )
    .await;
    assert_eq!(app.runs.load(Ordering::SeqCst), 1, "the handler ran once");
    // The same status, headers (repeated ones kept, in order) and body; not `date` nor the
    // hop-by-hop `connection`.
    assert_eq!(again, first.without(&["date", "connection"]));
    assert!(first.header("date").is_some());
    let cookies: Vec<_> = again
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .collect();
    assert_eq!(cookies.len(), 2);

    // The record format: the crate's own, documented in the crate docs.
    let record = replayed.lock().unwrap().clone().expect("replayed");
    assert!(
        record.key.starts_with("orders-api.handler#"),
        "{}",
        record.key
    );
    let data: Value = serde_json::from_str(record.data.as_deref().unwrap())?;
    assert_eq!(data["statusCode"], 201);
    assert_eq!(data["isBase64Encoded"], false);
    assert_eq!(
        data["body"],
        json!({"order": "o-1", "received": r#"{"sku":"A"}"#}).to_string()
    );
    assert!(
        data["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-order-run", "1"]))
    );
    assert!(!data["headers"].to_string().contains("date"));
    assert!(
        record.validation.is_some(),
        "the payload fingerprint is stored"
    );

    // Another key runs the handler again; a structured-field string key is the same key unquoted.
    let other = call(
        &service,
        request("POST", "/orders", Some("k-2"), r#"{"sku":"A"}"#),
    )
    .await;
    assert_eq!(other.json()["order"], "o-2");
    let quoted = call(
        &service,
        request("POST", "/orders", Some("\"k-2\""), r#"{"sku":"A"}"#),
    )
    .await;
    assert_eq!(quoted.json()["order"], "o-2");
    assert_eq!(app.runs.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn a_reused_key_with_another_payload_gets_422_without_the_stored_response() -> TestResult {
    let app = App::default();
    let idempotency = builder(Arc::new(InMemoryStore::new()))
        .http_key_header("Idempotency-Key")
        .build()?;
    let service = idempotency.layer().layer(router(&app));
    let first = call(
        &service,
        request("POST", "/orders", Some("k"), r#"{"sku":"secret-A"}"#),
    )
    .await;
    assert_eq!(first.status, 201);

    let other_body = call(
        &service,
        request("POST", "/orders", Some("k"), r#"{"sku":"B"}"#),
    )
    .await;
    assert_problem(&other_body, 422, "Idempotency key is already used");
    assert!(!String::from_utf8_lossy(&other_body.body).contains("secret-A"));
    assert!(!String::from_utf8_lossy(&other_body.body).contains("o-1"));
    // The fingerprint covers the route: the same key and body on another route is a reuse too.
    let other_route = call(
        &service,
        request("POST", "/carts", Some("k"), r#"{"sku":"secret-A"}"#),
    )
    .await;
    assert_problem(&other_route, 422, "Idempotency key is already used");
    assert_eq!(app.runs.load(Ordering::SeqCst), 1);
    // The original payload still replays.
    let replay = call(
        &service,
        request("POST", "/orders", Some("k"), r#"{"sku":"secret-A"}"#),
    )
    .await;
    assert_eq!(replay.body, first.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_progress_gets_409() -> TestResult {
    let app = App::default();
    let idempotency = builder(Arc::new(InMemoryStore::new()))
        .http_key_header("Idempotency-Key")
        .build()?;
    let service = idempotency.layer().layer(router(&app));
    let started = app.started.notified();
    let first = tokio::spawn({
        let service = service.clone();
        async move { call(&service, request("POST", "/slow", Some("k"), "")).await }
    });
    started.await;
    let duplicate = call(&service, request("POST", "/slow", Some("k"), "")).await;
    assert_problem(
        &duplicate,
        409,
        "A request is outstanding for this idempotency key",
    );
    app.release.notify_one();
    assert_eq!(first.await?.body, b"done");
    let replay = call(&service, request("POST", "/slow", Some("k"), "")).await;
    assert_eq!(replay.body, b"done");
    assert_eq!(app.runs.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn a_missing_required_key_gets_400_and_an_optional_one_runs_without_idempotency() -> TestResult
{
    let app = App::default();
    let required = builder(Arc::new(InMemoryStore::new()))
        .http_key_header("Idempotency-Key")
        .http_key_required(true)
        .build()?;
    let service = required.layer().layer(router(&app));
    let missing = call(&service, request("POST", "/orders", None, "{}")).await;
    assert_problem(&missing, 400, "Idempotency key is missing");
    let empty = call(&service, request("POST", "/orders", Some("\"\""), "{}")).await;
    assert_problem(&empty, 400, "Idempotency key is missing");
    let mut twice = request("POST", "/orders", Some("a"), "{}");
    twice
        .headers_mut()
        .append("idempotency-key", HeaderValue::from_static("b"));
    let ambiguous = call(&service, twice).await;
    assert_problem(&ambiguous, 400, "Idempotency key is ambiguous");
    assert_eq!(app.runs.load(Ordering::SeqCst), 0);
    // A method not made idempotent passes through, key or not.
    let listed = call(&service, request("GET", "/orders", None, "")).await;
    assert_eq!((listed.status, listed.body.as_slice()), (200, &b"[]"[..]));
    assert_eq!(app.runs.load(Ordering::SeqCst), 1);

    let optional = builder(Arc::new(InMemoryStore::new()))
        .http_key_header("Idempotency-Key")
        .build()?;
    let service = optional.layer().layer(router(&app));
    for _ in 0..2 {
        assert_eq!(
            call(&service, request("POST", "/orders", None, "{}"))
                .await
                .status,
            201
        );
    }
    assert_eq!(
        app.runs.load(Ordering::SeqCst),
        3,
        "no key: every call runs"
    );
    Ok(())
}

#[tokio::test]
async fn a_response_whose_status_is_not_stored_is_returned_and_a_retry_runs_again() -> TestResult {
    let app = App::default();
    *app.statuses.lock().unwrap() = vec![500, 200, 404, 404];
    let store = Arc::new(InMemoryStore::new());
    let idempotency = builder(Arc::clone(&store))
        .http_key_header("Idempotency-Key")
        .build()?;
    let service = idempotency.layer().layer(router(&app));
    let failed = call(&service, request("POST", "/failing", Some("k"), "")).await;
    assert_eq!(
        (failed.status, failed.body.as_slice()),
        (500, &b"status 500"[..])
    );
    let retried = call(&service, request("POST", "/failing", Some("k"), "")).await;
    assert_eq!(
        (retried.status, retried.body.as_slice()),
        (200, &b"status 200"[..])
    );
    let replay = call(&service, request("POST", "/failing", Some("k"), "")).await;
    assert_eq!(replay, retried);
    assert_eq!(app.runs.load(Ordering::SeqCst), 2);

    // Configured: a 404 is stored too.
    let with_404 = builder(Arc::clone(&store))
        .key_prefix("with-404")
        .http_key_header("Idempotency-Key")
        .store_http_statuses(|status| status.is_success() || status == StatusCode::NOT_FOUND)
        .build()?;
    let service = with_404.layer().layer(router(&app));
    let first = call(&service, request("POST", "/failing", Some("k"), "")).await;
    let replay = call(&service, request("POST", "/failing", Some("k"), "")).await;
    assert_eq!((first.status, replay.status), (404, 404));
    assert_eq!(app.runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        app.statuses.lock().unwrap().len(),
        1,
        "the second 404 was never served"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_keyed_request_is_keyed_by_its_json_and_its_route() -> TestResult {
    let app = App::default();
    let idempotency = builder(Arc::new(InMemoryStore::new()))
        .event_key_jmespath("order_id")
        .payload_validation_jmespath("amount")
        .build()?;
    let service = idempotency.layer().layer(router(&app));
    let first = call(
        &service,
        request(
            "POST",
            "/orders",
            None,
            r#"{"order_id":"1","amount":5,"note":"a"}"#,
        ),
    )
    .await;
    // The same key data (other fields differ), replayed.
    let replay = call(
        &service,
        request(
            "POST",
            "/orders",
            None,
            r#"{"note":"b","order_id":"1","amount":5}"#,
        ),
    )
    .await;
    assert_eq!(replay.body, first.body);
    assert_eq!(app.runs.load(Ordering::SeqCst), 1);
    // The validated part differs: 422.
    let changed = call(
        &service,
        request("POST", "/orders", None, r#"{"order_id":"1","amount":6}"#),
    )
    .await;
    assert_problem(&changed, 422, "Idempotency key is already used");
    // The same body on another route is another key.
    let cart = call(
        &service,
        request(
            "POST",
            "/carts",
            None,
            r#"{"order_id":"1","amount":5,"note":"a"}"#,
        ),
    )
    .await;
    assert_eq!(cart.json()["order"], "o-2");
    // No key in the body (not JSON, or no order_id): runs without idempotency.
    call(&service, request("POST", "/orders", None, "not json")).await;
    call(&service, request("POST", "/orders", None, "not json")).await;
    assert_eq!(app.runs.load(Ordering::SeqCst), 4);

    // A typed key function over the body.
    #[derive(serde::Deserialize)]
    struct Order {
        order_id: String,
    }
    let typed = builder(Arc::new(InMemoryStore::new()))
        .event_key_fn(|o: &Order| Some(o.order_id.clone()))
        .build()?;
    let service = typed.layer().layer(router(&app));
    let a = call(
        &service,
        request("POST", "/orders", None, r#"{"order_id":"9","x":1}"#),
    )
    .await;
    let b = call(
        &service,
        request("POST", "/orders", None, r#"{"order_id":"9","x":2}"#),
    )
    .await;
    assert_eq!(a.body, b.body);
    assert_eq!(app.runs.load(Ordering::SeqCst), 5);

    // A required key missing from the body: 400.
    let required = builder(Arc::new(InMemoryStore::new()))
        .event_key_jmespath("order_id")
        .http_key_required(true)
        .build()?;
    let service = required.layer().layer(router(&app));
    assert_problem(
        &call(&service, request("POST", "/orders", None, "{}")).await,
        400,
        "Idempotency key is missing",
    );
    assert_eq!(app.runs.load(Ordering::SeqCst), 5);
    Ok(())
}

#[tokio::test]
async fn a_binary_body_round_trips() -> TestResult {
    let app = App::default();
    let replayed = Arc::new(Mutex::new(None::<Record>));
    let seen_record = Arc::clone(&replayed);
    let idempotency = builder(Arc::new(InMemoryStore::new()))
        .http_key_header("Idempotency-Key")
        .on_replay(move |record| *seen_record.lock().unwrap() = Some(record.clone()))
        .build()?;
    let service = idempotency.layer().layer(router(&app));
    let mut binary_request = request("POST", "/binary", Some("bin"), "");
    *binary_request.body_mut() = lambda_http::Body::Binary(vec![0xff, 0x00, 0xfe]);
    let first = call(&service, binary_request).await;
    let mut binary_request = request("POST", "/binary", Some("bin"), "");
    *binary_request.body_mut() = lambda_http::Body::Binary(vec![0xff, 0x00, 0xfe]);
    let again = call(&service, binary_request).await;
    assert_eq!(first.body, [0u8, 159, 146, 150, 255, 10, 13, 0]);
    assert_eq!(again, first);
    assert_eq!(app.runs.load(Ordering::SeqCst), 1);
    let record = replayed.lock().unwrap().clone().expect("replayed");
    let data: Value = serde_json::from_str(record.data.as_deref().unwrap())?;
    assert_eq!(data["isBase64Encoded"], true);
    assert_eq!(data["body"], "AJ+Slv8KDQA=");
    Ok(())
}

#[tokio::test]
async fn a_lambda_http_service_fn_inside_an_invocation_is_made_idempotent() -> TestResult {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handler = lambda_http::service_fn(move |request: lambda_http::Request| {
        let runs = Arc::clone(&counted);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let deadline = powertools_core::Invocation::current().map(|i| i.deadline_ms());
            let body = format!("{}:{deadline:?}", String::from_utf8_lossy(request.body()));
            Ok::<_, lambda_http::Error>(
                http::Response::builder()
                    .status(202)
                    .body(lambda_http::Body::from(body))
                    .unwrap(),
            )
        }
    });
    let store = Arc::new(InMemoryStore::new());
    let idempotency = builder(Arc::clone(&store))
        .http_key_header("Idempotency-Key")
        .build()?;
    let service = idempotency.layer().layer(handler);
    let invoke = |request_id: &str| {
        let mut request = request("PUT", "/items/1", Some("k"), "payload");
        let mut context = lambda_http::Context::default();
        context.request_id = request_id.to_owned();
        context.deadline = 4_102_444_800_000;
        request.extensions_mut().insert(context);
        service.clone().oneshot(request)
    };
    let first = invoke("r-1").await.map_err(|e| e.to_string())?;
    let again = invoke("r-2").await.map_err(|e| e.to_string())?;
    assert_eq!(
        (first.status(), again.status()),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    assert_eq!(first.body(), again.body());
    assert_eq!(first.body().as_ref(), b"payload:Some(4102444800000)");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.requests(),
        3,
        "claim + complete, then a refused claim"
    );
    Ok(())
}

#[cfg(feature = "dynamodb")]
#[tokio::test]
async fn a_header_keyed_request_round_trips_through_dynamodb_local() -> TestResult {
    use powertools_idempotency::DynamoDbStore;
    let name = powertools_testing::unique_name("idem-http");
    let client = powertools_testing::dynamodb::local_client().await?;
    powertools_testing::dynamodb::create_table(&client, &name, "id", None).await?;
    let app = App::default();
    let idempotency = Idempotency::builder(DynamoDbStore::builder(client.clone(), &name).build())
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .http_key_header("Idempotency-Key")
        .build()?;
    let service = idempotency.layer().layer(router(&app));
    let first = call(
        &service,
        request("POST", "/orders", Some("ddb-1"), r#"{"sku":"A"}"#),
    )
    .await;
    let again = call(
        &service,
        request("POST", "/orders", Some("ddb-1"), r#"{"sku":"A"}"#),
    )
    .await;
    assert_eq!(first.status, 201);
    assert_eq!(again, first.without(&["date", "connection"]));
    let mut binary_request = request("POST", "/binary", Some("ddb-2"), "");
    *binary_request.body_mut() = lambda_http::Body::Binary(vec![0xff]);
    let binary_first = call(&service, binary_request).await;
    let mut binary_request = request("POST", "/binary", Some("ddb-2"), "");
    *binary_request.body_mut() = lambda_http::Body::Binary(vec![0xff]);
    assert_eq!(call(&service, binary_request).await, binary_first);
    let reused = call(
        &service,
        request("POST", "/orders", Some("ddb-1"), r#"{"sku":"B"}"#),
    )
    .await;
    assert_problem(&reused, 422, "Idempotency key is already used");
    assert_eq!(app.runs.load(Ordering::SeqCst), 2);
    client.delete_table().table_name(&name).send().await?;
    Ok(())
}
