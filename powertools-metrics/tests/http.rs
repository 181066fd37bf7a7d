//! The metrics layer around HTTP services run by `lambda_http` (an axum `Router`): the same
//! cold start and per-invocation blobs as for a `LambdaEvent`, concurrent requests apart, and
//! what a panicking route added still written.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, reason = "a route panics on purpose")]

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use lambda_http::Body;
use powertools_core::{ColdStart, catch_panic};
use powertools_metrics::{Metrics, MetricsLayerError, Unit};
use powertools_testing::{events, test_event};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};

use common::{blobs, metrics};

/// An HTTP API (API Gateway v2) request for `GET <path>`, with the invocation's context.
fn request(path: &str, request_id: &str) -> http::Request<Body> {
    let event = events::api_gateway_http("GET", path)
        .route("$default")
        .request_id(format!("api-{request_id}"))
        .build();
    let mut request = lambda_http::request::from_str(&event.to_string()).unwrap();
    request
        .extensions_mut()
        .insert(test_event(request_id, ()).context);
    request
}

async fn order(State(metrics): State<Metrics>, Path(n): Path<u32>) -> String {
    metrics
        .add_metric("OrderRead", Unit::Count, f64::from(n))
        .unwrap();
    metrics.add_metadata("order", json!(n)).unwrap();
    tokio::task::yield_now().await;
    format!("order {n}")
}

async fn explode(State(metrics): State<Metrics>) -> String {
    metrics.add_metric("BeforePanic", Unit::Count, 1.0).unwrap();
    panic!("inventory corrupted")
}

fn router(metrics: &Metrics) -> Router {
    Router::new()
        .route("/orders/{n}", get(order))
        .route("/explode", get(explode))
        .with_state(metrics.clone())
}

/// The blobs with `metric`.
fn with<'a>(blobs: &'a [Value], metric: &str) -> Vec<&'a Value> {
    blobs.iter().filter(|b| b.get(metric).is_some()).collect()
}

#[tokio::test]
async fn a_router_gets_a_cold_start_blob_and_one_blob_per_request() {
    let (m, captured) = metrics(&[]);
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(router(&m));
    for n in 1..=2 {
        let response = service
            .clone()
            .oneshot(request(&format!("/orders/{n}"), &format!("r-{n}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let blobs = blobs(&captured);
    let cold = with(&blobs, "ColdStart");
    assert_eq!(cold.len(), 1, "one cold start: {blobs:#?}");
    assert_eq!(cold[0]["function_name"], "orders-api");
    assert_eq!(cold[0]["service"], "orders");
    let reads = with(&blobs, "OrderRead");
    assert_eq!(reads.len(), 2, "{blobs:#?}");
    assert_eq!(reads[0]["OrderRead"], json!([1.0]));
    assert_eq!(reads[0]["order"], 1);
    assert_eq!(reads[1]["OrderRead"], json!([2.0]));
    assert_eq!(reads[1]["order"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_write_their_own_blobs() {
    let (m, captured) = metrics(&[]);
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(router(&m));
    let tasks: Vec<_> = (1..=24)
        .map(|n| {
            let call = service
                .clone()
                .oneshot(request(&format!("/orders/{n}"), &format!("r-{n}")));
            tokio::spawn(call)
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let blobs = blobs(&captured);
    let reads = with(&blobs, "OrderRead");
    assert_eq!(reads.len(), 24, "{blobs:#?}");
    for blob in reads {
        assert_eq!(
            blob["OrderRead"][0].as_f64(),
            blob["order"].as_f64(),
            "one request's values: {blob}"
        );
    }
}

#[tokio::test]
async fn a_panicking_route_still_writes_what_it_added() {
    let (m, captured) = metrics(&[]);
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(router(&m));
    let outcome = catch_panic(|| service.oneshot(request("/explode", "r-panic"))).await;
    assert_eq!(
        outcome.expect_err("the panic goes on").message(),
        "inventory corrupted"
    );
    let blobs = blobs(&captured);
    assert_eq!(with(&blobs, "BeforePanic").len(), 1, "{blobs:#?}");
}

/// What `lambda_http::run` needs of the service's error: the router's `Infallible` wrapped.
#[test]
fn the_layered_router_error_becomes_a_diagnostic() {
    fn error_of<S>(_: &S)
    where
        S: Service<http::Request<Body>, Error = MetricsLayerError<Infallible>>,
        S::Error: Into<lambda_runtime::Diagnostic> + std::fmt::Debug,
    {
    }
    let (m, _) = metrics(&[]);
    error_of(&m.layer().layer(router(&m)));
}
