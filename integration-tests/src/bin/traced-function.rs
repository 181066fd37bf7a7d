//! A Lambda function traced with powertools-tracer: the handler subsegment, a `## save_order`
//! span, and a DynamoDB `PutItem` recorded by the SDK interceptor.
//!
//! Event: `{"table": "<name>", "order_id": "<id>"}`.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_tracer::Tracer;
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

async fn handler(
    client: aws_sdk_dynamodb::Client,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let table = event.payload["table"]
        .as_str()
        .ok_or("event has no table")?
        .to_owned();
    let order_id = event.payload["order_id"]
        .as_str()
        .unwrap_or("o-1")
        .to_owned();
    async {
        client
            .put_item()
            .table_name(&table)
            .item("id", AttributeValue::S(order_id.clone()))
            .send()
            .await
    }
    .instrument(tracing::info_span!(
        "## save_order",
        annotation.order_id = order_id.as_str()
    ))
    .await?;
    Ok(json!({"saved": order_id}))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let tracer = Tracer::from_env();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(tracer.tracing_layer()),
    )?;
    let sdk_config = integration_tests::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .interceptor(tracer.interceptor())
            .build(),
    );
    let service = ServiceBuilder::new()
        .layer(tracer.layer())
        .service(service_fn(move |event| handler(dynamodb.clone(), event)));
    lambda_runtime::run_concurrent(service).await
}
