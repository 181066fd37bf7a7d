//! Batch handlers as `lambda_runtime` services: the processor and a record handler, ready for
//! `lambda_runtime::run` and any tower layer around it.

use std::sync::Arc;

use aws_lambda_events::dynamodb::{Event as DynamoDbEvent, EventRecord as DynamoDbRecord};
use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{DynamoDbEventResponse, KinesisEventResponse};
use lambda_runtime::{LambdaEvent, Service, service_fn};

use crate::envelope::FromRecord;
use crate::processor::BatchProcessor;

macro_rules! handler_fn {
    ($(#[$doc:meta])* $name:ident, $method:ident, $event:ty, $record:ty, $response:ty) => {
        $(#[$doc])*
        pub fn $name<A, H, Fut, E>(
            processor: BatchProcessor,
            handler: H,
        ) -> impl Service<
            LambdaEvent<$event>,
            Response = $response,
            Error = lambda_runtime::Error,
            Future = impl Future<Output = Result<$response, lambda_runtime::Error>>,
        > + Clone
        where
            A: FromRecord<$record>,
            H: Fn(A) -> Fut,
            Fut: Future<Output = Result<(), E>>,
            E: Into<lambda_runtime::Error>,
        {
            let shared = Arc::new((processor, handler));
            service_fn(move |event: LambdaEvent<$event>| {
                let shared = Arc::clone(&shared);
                async move {
                    let (processor, handler) = &*shared;
                    Ok(processor.$method(event.payload, handler).await?)
                }
            })
        }
    };
}

handler_fn!(
    /// An SQS batch handler as a service: `handler` per message, the failed message ids
    /// answered in `batchItemFailures`.
    ///
    /// ```no_run
    /// use powertools_batch::{BatchProcessor, Json, sqs_handler};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Order {
    ///     order_id: String,
    /// }
    ///
    /// async fn record(Json(order): Json<Order>) -> Result<(), lambda_runtime::Error> {
    ///     tracing::info!(order_id = %order.order_id, "order received");
    ///     Ok(())
    /// }
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), lambda_runtime::Error> {
    ///     lambda_runtime::run(sqs_handler(BatchProcessor::default(), record)).await
    /// }
    /// ```
    sqs_handler, sqs, SqsEvent, SqsMessage, SqsBatchResponse
);

handler_fn!(
    /// A Kinesis Data Streams batch handler as a service: `handler` per record, the failed
    /// sequence numbers answered in `batchItemFailures`.
    kinesis_handler, kinesis, KinesisEvent, KinesisEventRecord, KinesisEventResponse
);

handler_fn!(
    /// A DynamoDB Streams batch handler as a service: `handler` per record, the failed
    /// sequence numbers answered in `batchItemFailures`.
    dynamodb_handler, dynamodb, DynamoDbEvent, DynamoDbRecord, DynamoDbEventResponse
);
