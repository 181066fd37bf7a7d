//! Order events from EventBridge, invoked asynchronously, processed once per event.
//!
//! Lambda retries an asynchronous invocation that fails (twice by default) and then sends the
//! event to the function's on-failure destination (an SQS queue in `template.yaml`); EventBridge
//! itself may deliver an event more than once. So the handler is idempotent by the event's `id`
//! over DynamoDB: a delivery seen before replays its first result, and a failed one runs again
//! (a failure leaves no record).
//!
//! The event's `detail` is an order, `{"order_id", "customer_id", "sku", "quantity"}` with a
//! positive quantity; an order that is not valid fails the invocation (and, after the retries,
//! lands in the destination queue). Each log line carries the event id as `correlation_id`.
//!
//! Environment: `IDEMPOTENCY_TABLE_NAME` (required; partition key `id`), plus the Powertools
//! variables. Deploy with `template.yaml`.

use std::num::NonZeroU32;

use aws_config::BehaviorVersion;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_idempotency::{DynamoDbStore, Idempotency};
use powertools_logger::{CorrelationPath, Logger};
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceBuilder;

/// One order, as the event's `detail` carries it.
#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    customer_id: String,
    sku: String,
    quantity: NonZeroU32,
}

/// What the function returns (and the idempotency record keeps).
#[derive(Debug, Serialize, Deserialize)]
struct Fulfilled {
    order_id: String,
    units: u32,
}

async fn handler(metrics: Metrics, event: LambdaEvent<EventBridgeEvent>) -> Result<Value, Error> {
    let order: Order = serde_json::from_value(event.payload.detail).map_err(|e| {
        // serde's message may quote the input: say where, not what.
        format!(
            "the event's detail is not a valid order ({} at line {} column {})",
            match e.classify() {
                serde_json::error::Category::Data => "a field is missing or of the wrong type",
                _ => "not JSON",
            },
            e.line(),
            e.column()
        )
    })?;
    tracing::info!(
        order_id = order.order_id.as_str(),
        customer_id = order.customer_id.as_str(),
        sku = order.sku.as_str(),
        quantity = order.quantity.get(),
        "order fulfilled"
    );
    metrics.add_metric("OrderFulfilled", Unit::Count, 1.0)?;
    Ok(serde_json::to_value(Fulfilled {
        order_id: order.order_id,
        units: order.quantity.get(),
    })?)
}

/// A DynamoDB client whose calls are subsegments (`tracer`'s interceptor), on a rustls (ring)
/// HTTP client: the SDK's default TLS stack, aws-lc-rs, is slower to build.
async fn dynamodb_client(tracer: &Tracer) -> aws_sdk_dynamodb::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .interceptor(tracer.interceptor())
            .build(),
    )
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::builder()
        .correlation_id_path(CorrelationPath::EventBridge) // the event's `id`
        .build()?;
    let tracer = Tracer::builder().handler_name("fulfil_order").build()?;
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "AsyncOrders".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;
    let table = std::env::var("IDEMPOTENCY_TABLE_NAME").map_err(|_| {
        "IDEMPOTENCY_TABLE_NAME is not set: give the function the name of its idempotency table"
    })?;
    let idempotency =
        Idempotency::builder(DynamoDbStore::builder(dynamodb_client(&tracer).await, table).build())
            .event_key_jmespath("id") // one EventBridge event, however many deliveries
            .handler_name("fulfil_order")
            .build()?;

    let handler_metrics = metrics.clone();
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .layer(idempotency.layer()) // innermost: a replay is still logged, measured, traced
        .service(service_fn(move |event| {
            handler(handler_metrics.clone(), event)
        }));
    lambda_runtime::run(service).await
}
