//! Orders from an SQS queue, processed once per message.
//!
//! Each message's body is an order, `{"order_id", "customer_id", "sku", "quantity"}` with a
//! positive quantity. A message whose body is not a valid order is reported in
//! `batchItemFailures` (SQS makes it visible again, and after `maxReceiveCount` receives moves it
//! to the dead-letter queue); every other message is processed once: a message delivered again
//! replays its first result from the idempotency table instead of running twice. When every
//! message of a batch fails the invocation fails, so that the whole batch is retried; an empty
//! batch succeeds.
//!
//! Environment: `IDEMPOTENCY_TABLE_NAME` (required; partition key `id`, the Powertools default
//! schema), plus the Powertools variables. Deploy with `template.yaml`.

use std::num::NonZeroU32;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_lambda_events::sqs::SqsMessage;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_runtime::Error;
use powertools_batch::{BatchProcessor, Json, sqs_handler};
use powertools_idempotency::{DynamoDbStore, Idempotency};
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower::ServiceBuilder;

/// One order, as the queue carries it.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Order {
    order_id: String,
    customer_id: String,
    sku: String,
    quantity: NonZeroU32,
}

/// What processing an order returns, stored with its idempotency record and replayed.
#[derive(Debug, Deserialize, Serialize)]
struct Receipt {
    order_id: String,
    units: u32,
}

/// What every record shares, built once at INIT.
#[derive(Debug)]
struct App {
    idempotency: Idempotency,
    metrics: Metrics,
}

/// One message: runs once per message id; a redelivered message replays its receipt.
async fn record(app: &App, (message, Json(order)): (SqsMessage, Json<Order>)) -> Result<(), Error> {
    let key = json!(message.message_id);
    let receipt: Receipt = app.idempotency.run(&key, || process(app, order)).await?;
    tracing::debug!(
        order_id = receipt.order_id.as_str(),
        units = receipt.units,
        "receipt"
    );
    Ok(())
}

/// The work itself: here, the order is accounted for; in a real shop, it is fulfilled.
async fn process(app: &App, order: Order) -> Result<Receipt, Error> {
    tracing::info!(
        order_id = order.order_id.as_str(),
        customer_id = order.customer_id.as_str(),
        sku = order.sku.as_str(),
        quantity = order.quantity.get(),
        "order processed"
    );
    app.metrics.add_metric("OrderProcessed", Unit::Count, 1.0)?;
    app.metrics
        .add_metric("UnitsOrdered", Unit::Count, f64::from(order.quantity.get()))?;
    Ok(Receipt {
        order_id: order.order_id,
        units: order.quantity.get(),
    })
}

/// A DynamoDB client whose calls are subsegments of the record's (`tracer`'s interceptor), on
/// a rustls (ring) HTTP client: the SDK's default TLS stack, aws-lc-rs, is slower to build.
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
    let logger = Logger::from_env();
    let tracer = Tracer::builder().handler_name("orders_batch").build()?;
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "SqsBatch".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;

    let table = std::env::var("IDEMPOTENCY_TABLE_NAME").map_err(|_| {
        "IDEMPOTENCY_TABLE_NAME is not set: give the function the name of its idempotency table"
    })?;
    let dynamodb = dynamodb_client(&tracer).await;
    let idempotency = Idempotency::builder(DynamoDbStore::builder(dynamodb, table).build())
        .handler_name("orders_batch")
        .build()?;
    let app = Arc::new(App {
        idempotency,
        metrics: metrics.clone(),
    });

    // Up to 10 messages at once (the default); a FIFO queue would be taken one by one.
    let batch = sqs_handler(BatchProcessor::default(), move |message| {
        let app = Arc::clone(&app);
        async move { record(&app, message).await }
    });
    // Outermost first: the logger opens the invocation scope (each record's lines carry its
    // message id as `correlation_id`), metrics flush one blob per batch, the tracer records
    // the `## orders_batch` subsegment with a `## record` subsegment per message.
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .service(batch);
    lambda_runtime::run(service).await
}
