//! An orders API on AWS Lambda: `POST /orders` (API Gateway REST proxy) creates an order and
//! answers 201 with it. Idempotent over DynamoDB on the request body: a retried or duplicated
//! request gets the first response back and creates nothing.
//!
//! Environment: `IDEMPOTENCY_TABLE_NAME` (required), `IDEMPOTENCY_KEY_PREFIX` (optional: a
//! fixed prefix, e.g. the one a Powertools for Python function used on the same table), plus the
//! Powertools variables. Deploy with `template.yaml`.

use aws_config::BehaviorVersion;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_idempotency::{DynamoDbStore, Idempotency};
use powertools_logger::{CorrelationPath, Logger};
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceBuilder;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    customer_id: String,
    sku: String,
    quantity: u32,
}

fn respond(status: i64, body: &Value) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.headers.insert(
        "content-type",
        aws_lambda_events::http::HeaderValue::from_static("application/json"),
    );
    response.body = Some(Body::Text(body.to_string()));
    response
}

async fn create_order(
    metrics: Metrics,
    event: LambdaEvent<ApiGatewayProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let order: NewOrder = match event.payload.body.as_deref().map(serde_json::from_str) {
        Some(Ok(order)) => order,
        Some(Err(e)) => {
            tracing::warn!(reason = %e, "order rejected");
            return Ok(respond(
                400,
                &json!({"message": format!("request body is not a valid order: {e}")}),
            ));
        }
        None => {
            return Ok(respond(
                400,
                &json!({"message": "request body is required"}),
            ));
        }
    };
    if order.quantity == 0 || order.quantity > 100 || order.sku.trim().is_empty() {
        return Ok(respond(
            422,
            &json!({"message": "quantity must be 1 to 100 and sku non-empty"}),
        ));
    }
    let order_id = format!("o-{:012x}", powertools_core::random_u64() >> 16);
    tracing::info!(
        order_id = order_id.as_str(),
        sku = order.sku.as_str(),
        quantity = order.quantity,
        "order created"
    );
    metrics.add_metric("OrderCreated", Unit::Count, 1.0)?;
    metrics.add_metadata("order_id", json!(order_id))?;
    Ok(respond(
        201,
        &json!({"order_id": order_id, "customer_id": order.customer_id, "sku": order.sku, "quantity": order.quantity}),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::builder()
        .correlation_id_path(CorrelationPath::ApiGatewayRest)
        .build()?;
    let tracer = Tracer::from_env();
    // The subscriber: the logger's lines and the tracer's `## ` spans, each with its own filter.
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "OrdersApi".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;

    let table = std::env::var("IDEMPOTENCY_TABLE_NAME")
        .map_err(|_| "IDEMPOTENCY_TABLE_NAME is not set: give the function the name of its idempotency table")?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .interceptor(tracer.interceptor())
            .build(),
    );
    let mut idempotency = Idempotency::builder(DynamoDbStore::builder(dynamodb, table).build())
        .event_key_jmespath("powertools_json(body)")
        .handler_name("create_order");
    if let Ok(prefix) = std::env::var("IDEMPOTENCY_KEY_PREFIX") {
        idempotency = idempotency.key_prefix(prefix);
    }
    let idempotency = idempotency.build()?;

    let handler_metrics = metrics.clone();
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .layer(idempotency.layer())
        .service(service_fn(move |event| {
            create_order(handler_metrics.clone(), event)
        }));
    lambda_runtime::run_concurrent(service).await
}
