//! An orders API on AWS Lambda with `lambda_http` and axum: one `Router` that serves API
//! Gateway REST and HTTP APIs, Application Load Balancers and Lambda function URLs alike.
//!
//! - `POST /orders` creates an order and answers 201 with it. It requires an `Idempotency-Key`
//!   header (400 without one) and is idempotent by it over DynamoDB: a retried request with the
//!   same key and body gets the first response back and creates nothing; the same key with
//!   another body is refused (422); a retry while the first is still running gets 409.
//! - `GET /orders/{id}` answers 200 with a stored order, 404 for an unknown id.
//!
//! `GET /orders/export` is the other binary, `http-api-export`: a streamed response.
//!
//! Errors are RFC 9457 problem details (`application/problem+json`).
//!
//! Environment: `ORDERS_TABLE_NAME` and `IDEMPOTENCY_TABLE_NAME` (required), plus the
//! Powertools variables. Deploy with `template.yaml`.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lambda_http::Error;
use powertools_idempotency::{DynamoDbStore, Idempotency};
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use serde_json::json;
use tower::ServiceBuilder;

use http_api::orders::{Order, parse_order};
use http_api::{dynamodb_client, required};

/// What the routes share, built once at INIT.
#[derive(Debug, Clone)]
struct App {
    dynamodb: aws_sdk_dynamodb::Client,
    orders_table: String,
    metrics: Metrics,
}

/// An RFC 9457 problem details response.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl Problem {
    fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            title,
            detail: detail.into(),
        }
    }

    fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed");
        Self::new(
            500,
            "Internal Server Error",
            "the request could not be completed",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// `POST /orders`. The idempotency layer has already refused a request without an
/// `Idempotency-Key` (400), with a key in progress (409) or reused for another order (422),
/// and answered a duplicate with the first response: this runs once per key.
async fn create_order(State(app): State<App>, body: Bytes) -> Result<Response, Problem> {
    let new_order = parse_order(&body).map_err(|(status, message)| {
        tracing::warn!(status, reason = message.as_str(), "order rejected");
        Problem::new(status, "Invalid order", message)
    })?;
    let order = Order::accept(new_order);
    save(&app, &order).await.map_err(Problem::internal)?;
    tracing::info!(
        order_id = order.order_id.as_str(),
        sku = order.sku.as_str(),
        quantity = order.quantity,
        "order created"
    );
    app.metrics
        .add_metric("OrderCreated", Unit::Count, 1.0)
        .map_err(Problem::internal)?;
    app.metrics
        .add_metadata("order_id", json!(order.order_id))
        .map_err(Problem::internal)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/orders/{}", order.order_id))],
        axum::Json(order),
    )
        .into_response())
}

/// Stores a new order (never overwriting one).
async fn save(app: &App, order: &Order) -> Result<(), Error> {
    app.dynamodb
        .put_item()
        .table_name(&app.orders_table)
        .set_item(Some(order.to_item()))
        .condition_expression("attribute_not_exists(id)")
        .send()
        .await
        .map_err(|e| {
            format!(
                "storing order {}: {}",
                order.order_id,
                e.into_service_error()
            )
        })?;
    Ok(())
}

/// `GET /orders/{id}`.
async fn get_order(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<axum::Json<Order>, Problem> {
    let output = app
        .dynamodb
        .get_item()
        .table_name(&app.orders_table)
        .key("id", AttributeValue::S(id.clone()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Problem::internal(e.into_service_error()))?;
    match output.item().and_then(Order::from_item) {
        Some(order) => Ok(axum::Json(order)),
        None => Err(Problem::new(
            404,
            "Not Found",
            format!("no order with id {id}"),
        )),
    }
}

/// The routes.
fn router(app: App) -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .with_state(app)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::from_env();
    let tracer = Tracer::builder().handler_name("orders").build()?;
    // The subscriber: the logger's lines and the tracer's `## ` spans, each with its own filter.
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "HttpApi".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;

    let orders_table = required("ORDERS_TABLE_NAME")?;
    let idempotency_table = required("IDEMPOTENCY_TABLE_NAME")?;
    let dynamodb = dynamodb_client(&tracer).await;
    // `POST /orders` is keyed by its `Idempotency-Key` header, required; `GET` requests pass
    // through. Only 2xx responses are stored: a rejected order can be corrected and retried
    // with the same key.
    let idempotency =
        Idempotency::builder(DynamoDbStore::builder(dynamodb.clone(), idempotency_table).build())
            .http_key_header("Idempotency-Key")
            .http_key_required(true)
            .handler_name("orders")
            .build()?;

    let app = App {
        dynamodb,
        orders_table,
        metrics: metrics.clone(),
    };
    // Outermost first: the logger opens the invocation scope (request id, cold start,
    // correlation id from the request context) that the others read; metrics flush one blob
    // per request; the tracer records the `## orders` subsegment with the HTTP block; the
    // idempotency layer answers duplicates before the router runs.
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .layer(idempotency.layer())
        .service(router(app));
    // `lambda_http::run`: `run_concurrent` (Lambda Managed Instances) needs a response body
    // that is `Sync`, and axum's is not.
    lambda_http::run(service).await
}
