//! A function with every utility composed as users write it: the logger's `tracing` layer and
//! the X-Ray span layer in one subscriber; the logger's context layer, metrics, tracer and
//! idempotency (over DynamoDB Local) around the handler; a parameter read from SSM (moto)
//! through the cache; the SDK interceptor on the DynamoDB client. Runs under
//! `lambda_runtime::run_concurrent`.
//!
//! Environment: `IDEMPOTENCY_TABLE_NAME`, `CONFIG_PARAMETER` (an SSM parameter name),
//! `LOG_BUFFER=off` (no log buffer), the endpoints from `scripts/test`, and the Powertools
//! variables.
//!
//! Event: `{"order_id": "o-7", "n": 7, "sleep_ms": 20, "panic": false, "fail": null}`. The
//! handler logs, measures (`OrderValue` = `n`, metadata `order_id`) and traces (`## save_order`
//! with the annotation `order_id`) the order, then panics or fails when asked.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_idempotency::{DynamoDbStore, Idempotency};
use powertools_logger::{BufferConfig, Logger};
use powertools_metrics::{Metrics, Unit};
use powertools_params::{Parameters, SsmProvider};
use powertools_tracer::Tracer;
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tracing::Instrument;

#[derive(Clone)]
struct Deps {
    metrics: Metrics,
    parameters: Parameters<SsmProvider>,
    config_parameter: String,
}

async fn handler(deps: Deps, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let order_id = payload["order_id"].as_str().unwrap_or("none").to_owned();
    let n = payload["n"].as_f64().unwrap_or(0.0);
    powertools_logger::append_invocation_key("order_id", json!(order_id));
    let config = deps.parameters.get(&deps.config_parameter).await?;
    async {
        if let Some(ms) = payload["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        deps.metrics.add_metric("OrderValue", Unit::Count, n)?;
        deps.metrics.add_metadata("order_id", json!(order_id))?;
        tracing::warn!(step = "saved", "order saved");
        Ok::<_, Error>(())
    }
    .instrument(tracing::info_span!(
        "## save_order",
        annotation.order_id = order_id.as_str()
    ))
    .await?;
    // Held in the log buffer (DEBUG), written only if the invocation fails. Logged after the
    // SDK calls, whose own DEBUG lines fill the buffer too.
    tracing::debug!(step = "checked", "order checked");
    if payload["panic"] == json!(true) {
        #[allow(clippy::panic)] // a handler that panics is what this function is for
        std::panic::panic_any(format!("order {order_id} exploded"));
    }
    if let Some(message) = payload["fail"].as_str() {
        return Err(message.into());
    }
    Ok(json!({
        "order_id": order_id,
        "request_id": event.context.request_id,
        "config": config,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut logger = Logger::builder();
    // `LOG_BUFFER=off` runs without the log buffer (a plain level filter).
    if std::env::var("LOG_BUFFER").as_deref() != Ok("off") {
        logger = logger.buffer(
            BufferConfig::default()
                .at_level(tracing::Level::DEBUG)
                .max_bytes(4 << 20),
        );
    }
    let logger = logger.build()?;
    let tracer = Tracer::from_env();
    // The subscriber: the logger's lines and the tracer's `## ` spans, each with its own filter.
    logger.try_init_with(tracer.tracing_layer())?;
    let metrics = Metrics::builder().namespace("Composed").build()?;

    let sdk_config = integration_tests::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .interceptor(tracer.interceptor())
            .build(),
    );
    let table =
        std::env::var("IDEMPOTENCY_TABLE_NAME").map_err(|_| "IDEMPOTENCY_TABLE_NAME is not set")?;
    let idempotency = Idempotency::builder(DynamoDbStore::builder(dynamodb, table).build())
        .event_key_jmespath("order_id")
        .build()?;
    let deps = Deps {
        metrics: metrics.clone(),
        parameters: Parameters::builder(SsmProvider::new(aws_sdk_ssm::Client::new(&sdk_config)))
            .build()?,
        config_parameter: std::env::var("CONFIG_PARAMETER")
            .map_err(|_| "CONFIG_PARAMETER is not set")?,
    };
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .layer(idempotency.layer())
        .service(service_fn(move |event| handler(deps.clone(), event)));
    lambda_runtime::run_concurrent(service).await
}
