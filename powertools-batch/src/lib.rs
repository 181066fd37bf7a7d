//! SQS, Kinesis Data Streams and DynamoDB Streams batches with partial failures: a handler per
//! typed record, and the failed records reported in `batchItemFailures`, so that Lambda retries
//! those alone.
//!
//! # Getting started
//!
//! ```toml
//! [dependencies]
//! powertools-batch = "0.1"
//! lambda_runtime = "1"
//! serde = { version = "1", features = ["derive"] }
//! tokio = { version = "1", features = ["macros"] }
//! ```
//!
//! ```no_run
//! use powertools_batch::{BatchProcessor, Json, sqs_handler};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     order_id: String,
//!     quantity: u32,
//! }
//!
//! /// One message: a body that is not an `Order`, an error or a panic fails this message only.
//! async fn record(Json(order): Json<Order>) -> Result<(), lambda_runtime::Error> {
//!     if order.quantity == 0 {
//!         return Err(format!("order {} has no items", order.order_id).into());
//!     }
//!     tracing::info!(order_id = %order.order_id, "order processed");
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     lambda_runtime::run(sqs_handler(BatchProcessor::default(), record)).await
//! }
//! ```
//!
//! With the other utilities, put their layers around the service as for any handler
//! (`ServiceBuilder::new().layer(logger.layer()).layer(metrics.layer()).service(sqs_handler(..))`):
//! each record then logs with its message id as `correlation_id`, its metrics land in the
//! invocation's EMF blob, and its `## record` span is an X-Ray subsegment. Code that wants the
//! loop inside its own handler calls [`BatchProcessor::sqs`], [`BatchProcessor::kinesis`] or
//! [`BatchProcessor::dynamodb`].
//!
//! # The event source mapping
//!
//! Partial responses are read only when the event source mapping says so: set
//! `FunctionResponseTypes: [ReportBatchItemFailures]` (SAM: `FunctionResponseTypes` on the
//! `SQS`, `Kinesis` or `DynamoDB` event). Without it Lambda ignores `batchItemFailures` and
//! deletes (SQS) or checkpoints (streams) the whole batch when the function returns.
//! Give SQS queues a redrive policy (a dead-letter queue with `maxReceiveCount`) so that a
//! message that always fails stops coming back, and streams `MaximumRetryAttempts` with an
//! `OnFailure` destination.
//!
//! # What is retried
//!
//! | outcome | response | Lambda |
//! |---|---|---|
//! | every record succeeded, or the batch is empty | no failures | done |
//! | some records failed | their identifiers | retries those (SQS: the failed messages become visible again; streams: from the lowest failed sequence number) |
//! | every record failed | an error ([`BatchError::AllFailed`]) | retries the whole batch, and the invocation counts as an error |
//! | a failed record has no identifier | an error ([`BatchError::Unidentified`]) | retries the whole batch |
//!
//! A record fails when its payload does not parse into the handler's argument (the reason
//! names the type and the position, never the input's values), when the handler returns an
//! error, or when it panics; the others go on.
//!
//! # Ordering and FIFO queues
//!
//! - Standard SQS queues: up to [`BatchProcessorBuilder::concurrency`] messages at once (10 by
//!   default), all processed; `concurrency(1)` keeps the batch's order.
//! - FIFO queues (detected by the `.fifo` event source ARN, or forced with
//!   [`BatchProcessorBuilder::fifo`]): one by one, and at the first failure the rest of the
//!   batch is reported unprocessed ([`Failure::Skipped`]) so that no message overtakes the
//!   failed one. With [`BatchProcessorBuilder::skip_group_on_error`], only the later messages of
//!   the failed message group are; other groups go on. This is Powertools'
//!   `SqsFifoPartialProcessor` with and without `skip_group_on_error`.
//! - Kinesis and DynamoDB Streams: one by one in order, every record processed; with
//!   [`BatchProcessorBuilder::stop_on_first_failure`] the records after a failed one are
//!   reported unprocessed.
//!
//! # Typed records
//!
//! A record handler takes anything that implements [`FromRecord`] for the record type: the raw
//! record (`SqsMessage`, `KinesisEventRecord`, `dynamodb::EventRecord`), an envelope from
//! [`envelope`] ([`Json<T>`], [`Sns<T>`], [`EventBridge<T>`], [`NewImage<T>`],
//! [`OldImage<T>`], [`Change<T>`]), or both as a pair, `(SqsMessage, Json<Order>)`, for the
//! message id or attributes beside the typed body. The envelopes also serve handlers outside
//! batches through [`Decode`].
//!
//! # Idempotent records
//!
//! SQS delivers at least once: a message can come twice. Run the record's work through
//! `powertools_idempotency::Idempotency::run`, keyed by the message id (or the order id in the
//! body), and a redelivered message replays the first result instead of running again:
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
//! use powertools_batch::{BatchProcessor, Json};
//! use powertools_idempotency::{Idempotency, InMemoryStore};
//!
//! #[derive(serde::Deserialize)]
//! struct Order {
//!     order_id: String,
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let idempotency = Idempotency::builder(InMemoryStore::new()).build()?; // DynamoDbStore in Lambda
//! let saved = AtomicU32::new(0);
//! let record = |(message, Json(order)): (SqsMessage, Json<Order>)| {
//!     let (idempotency, saved) = (&idempotency, &saved);
//!     async move {
//!         let key = serde_json::json!(message.message_id);
//!         let work = || async move {
//!             saved.fetch_add(1, Ordering::SeqCst); // save the order: once per message
//!             Ok::<_, String>(order.order_id)
//!         };
//!         idempotency.run(&key, work).await.map_err(|e| e.to_string())?;
//!         Ok::<_, String>(())
//!     }
//! };
//!
//! let mut message = SqsMessage::default();
//! message.message_id = Some("059f36b4-87a3-44ab-83d2-661975830a7d".into());
//! message.body = Some(r#"{"order_id":"o-1"}"#.into());
//! let mut event = SqsEvent::default();
//! event.records.push(message);
//! BatchProcessor::default().sqs(event.clone(), &record).await?;
//! BatchProcessor::default().sqs(event, &record).await?; // redelivered: replayed
//! assert_eq!(saved.load(Ordering::SeqCst), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! `examples/sqs-batch` is a deployable function doing this over DynamoDB.
//!
//! # IAM
//!
//! The function's role needs the event source's read permissions: for SQS
//! `sqs:ReceiveMessage`, `sqs:DeleteMessage`, `sqs:GetQueueAttributes` on the queue
//! (`AWSLambdaSQSQueueExecutionRole`); for Kinesis and DynamoDB Streams the stream read
//! actions (`AWSLambdaKinesisExecutionRole`, `AWSLambdaDynamoDBExecutionRole`). This crate
//! calls no AWS API itself.
//!
//! # Configuration
//!
//! Everything is set on [`BatchProcessor::builder`]; the processor reads no environment
//! variable. Features: `apigw` adds [`Json<T>`] for API Gateway REST and HTTP API requests.
//!
//! # Testing
//!
//! A batch is a plain event: build one (or load a JSON fixture) and call the processor, or run
//! the binary under `powertools_testing::LocalFunction` and invoke it with the event. The
//! processor needs no Lambda scope, so unit tests can call [`BatchProcessor::sqs`] directly.

pub mod envelope;
mod error;
mod processor;
mod service;

pub use envelope::{
    Change, Decode, EventBridge, FromRecord, Json, NewImage, OldImage, ParseError, Sns,
};
pub use error::{BatchError, ConfigError, Failure, RecordFailure};
pub use processor::{BatchProcessor, BatchProcessorBuilder, DEFAULT_CONCURRENCY, RECORD_SPAN};
pub use service::{dynamodb_handler, kinesis_handler, sqs_handler};
