//! A batch function with every layer composed as users write it (logger, metrics, tracer
//! around `powertools_batch`'s service), under `lambda_runtime::run_concurrent`.
//!
//! Environment: `BATCH_SOURCE` = `sqs` (default), `kinesis` or `dynamodb`; `BATCH_STOP=1` stops
//! a stream batch at its first failure; the Powertools variables.
//!
//! Each record's payload (the SQS body, the Kinesis data, the DynamoDB `NewImage`) is
//! `{"id": "r-1", "sleep_ms": 5, "fail": "why" | null, "panic": false}`. The handler logs
//! `record started` (DEBUG) and `record done` (INFO), measures `RecordValue` = 1 and traces
//! `## work`, then panics or fails when asked.

use std::time::Duration;

use lambda_runtime::Error;
use powertools_batch::{
    BatchProcessor, Json, NewImage, dynamodb_handler, kinesis_handler, sqs_handler,
};
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use serde::Deserialize;
use tower::ServiceBuilder;
use tracing::Instrument;

#[derive(Debug, Deserialize)]
struct Work {
    id: String,
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    panic: bool,
}

async fn work(metrics: Metrics, work: Work) -> Result<(), Error> {
    tracing::debug!(work_id = work.id.as_str(), "record started");
    async {
        tokio::time::sleep(Duration::from_millis(work.sleep_ms)).await;
        metrics.add_metric("RecordValue", Unit::Count, 1.0)
    }
    .instrument(tracing::info_span!("## work"))
    .await?;
    if work.panic {
        #[allow(clippy::panic)] // a record that panics is what this function is for
        std::panic::panic_any(format!("record {} exploded", work.id));
    }
    if let Some(reason) = work.fail {
        return Err(reason.into());
    }
    tracing::info!(work_id = work.id.as_str(), "record done");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::from_env();
    let tracer = Tracer::from_env();
    logger.try_init_with(tracer.tracing_layer())?;
    let metrics = Metrics::builder().namespace("Batch").build()?;
    let mut processor = BatchProcessor::builder();
    if std::env::var("BATCH_STOP").as_deref() == Ok("1") {
        processor = processor.stop_on_first_failure();
    }
    let processor = processor.build()?;
    let layers = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer());
    let source = std::env::var("BATCH_SOURCE").unwrap_or_else(|_| "sqs".to_owned());
    match source.as_str() {
        "kinesis" => {
            let service = kinesis_handler(processor, move |Json(w): Json<Work>| {
                work(metrics.clone(), w)
            });
            lambda_runtime::run_concurrent(layers.service(service)).await
        }
        "dynamodb" => {
            let service = dynamodb_handler(processor, move |NewImage(w): NewImage<Work>| {
                work(metrics.clone(), w)
            });
            lambda_runtime::run_concurrent(layers.service(service)).await
        }
        _ => {
            let service = sqs_handler(processor, move |Json(w): Json<Work>| {
                work(metrics.clone(), w)
            });
            lambda_runtime::run_concurrent(layers.service(service)).await
        }
    }
}
