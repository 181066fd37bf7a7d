//! The batch processor: one loop behind SQS, Kinesis and DynamoDB Streams.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use aws_lambda_events::dynamodb::{Event as DynamoDbEvent, EventRecord as DynamoDbRecord};
use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse,
};
use futures_util::StreamExt as _;
use futures_util::future::Either;
use futures_util::stream::FuturesUnordered;
use powertools_core::{catch_panic, catch_panic_sync, with_correlation_id};
use tracing::Instrument as _;

use crate::envelope::FromRecord;
use crate::error::{BatchError, ConfigError, Failure, RecordFailure};

/// Records of a standard SQS queue processed at once, by default.
pub const DEFAULT_CONCURRENCY: usize = 10;

/// The name of the span (an X-Ray subsegment under `powertools-tracer`) around each record.
pub const RECORD_SPAN: &str = "## record";

/// Processes the records of an SQS, Kinesis or DynamoDB Streams batch with a handler per
/// record, and answers with the records that failed, so that Lambda retries those alone
/// (the event source mapping needs `FunctionResponseTypes: [ReportBatchItemFailures]`).
///
/// - **SQS, standard queue**: up to [`concurrency`](BatchProcessorBuilder::concurrency)
///   records at once (10 by default; 1 for the batch's order), every record processed.
/// - **SQS, FIFO queue** (an event source ARN ending in `.fifo`, or
///   [`fifo`](BatchProcessorBuilder::fifo)): one by one in order; at the first failure the rest
///   of the batch is reported unprocessed, so that no message overtakes a failed one. With
///   [`skip_group_on_error`](BatchProcessorBuilder::skip_group_on_error), only the later
///   messages of the failed message group are.
/// - **Kinesis, DynamoDB Streams**: one by one in order, every record processed; with
///   [`stop_on_first_failure`](BatchProcessorBuilder::stop_on_first_failure) the records after a
///   failed one are reported unprocessed (Lambda resumes from the lowest failed sequence number).
///
/// Each record runs inside the invocation's scope with its identifier as the correlation id
/// (the logger writes it on the record's lines) and inside a `## record` span (an X-Ray
/// subsegment under the tracer). A record whose payload does not parse, whose handler fails
/// or panics, fails alone; a failed record is logged at ERROR with its reason. When every
/// record fails the batch fails ([`BatchError::AllFailed`]), so that Lambda retries it whole;
/// an empty batch succeeds.
///
/// ```
/// use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
/// use powertools_batch::{BatchProcessor, Json};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Order {
///     quantity: u32,
/// }
///
/// async fn handle(Json(order): Json<Order>) -> Result<(), String> {
///     if order.quantity == 0 { Err("empty order".into()) } else { Ok(()) }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut event = SqsEvent::default();
/// for (id, body) in [("m-1", r#"{"quantity":2}"#), ("m-2", r#"{"quantity":0}"#), ("m-3", "not json")] {
///     let mut message = SqsMessage::default();
///     message.message_id = Some(id.into());
///     message.body = Some(body.into());
///     event.records.push(message);
/// }
/// let response = BatchProcessor::default().sqs(event, handle).await?;
/// let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
/// assert_eq!(failed, ["m-2", "m-3"]);
/// # Ok::<(), powertools_batch::BatchError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct BatchProcessor {
    concurrency: NonZeroUsize,
    fifo: bool,
    skip_group_on_error: bool,
    stop_on_first_failure: bool,
}

impl Default for BatchProcessor {
    fn default() -> Self {
        Self {
            concurrency: NonZeroUsize::new(DEFAULT_CONCURRENCY).unwrap_or(NonZeroUsize::MIN),
            fifo: false,
            skip_group_on_error: false,
            stop_on_first_failure: false,
        }
    }
}

/// Builds a [`BatchProcessor`]; [`build`](Self::build) checks the settings.
#[derive(Debug, Clone)]
#[must_use]
pub struct BatchProcessorBuilder {
    concurrency: usize,
    fifo: bool,
    skip_group_on_error: bool,
    stop_on_first_failure: bool,
}

impl BatchProcessorBuilder {
    /// Records of a standard SQS queue processed at once (default 10). `1` processes them one
    /// by one in the batch's order. FIFO queues and streams always go one by one.
    pub fn concurrency(mut self, records: usize) -> Self {
        self.concurrency = records;
        self
    }

    /// FIFO semantics for SQS whatever the event source ARN says (they apply anyway when it
    /// ends in `.fifo`).
    pub fn fifo(mut self) -> Self {
        self.fifo = true;
        self
    }

    /// FIFO: at a failure, report unprocessed only the later messages of the failed message
    /// group (`MessageGroupId`), and go on with the other groups. Without it, every later
    /// message is reported unprocessed.
    pub fn skip_group_on_error(mut self) -> Self {
        self.skip_group_on_error = true;
        self
    }

    /// Kinesis and DynamoDB Streams: stop at the first failed record and report it and every
    /// later one, for handlers whose records must apply in order.
    pub fn stop_on_first_failure(mut self) -> Self {
        self.stop_on_first_failure = true;
        self
    }

    /// The processor.
    ///
    /// # Errors
    /// [`ConfigError::ZeroConcurrency`] for `concurrency(0)`.
    pub fn build(self) -> Result<BatchProcessor, ConfigError> {
        Ok(BatchProcessor {
            concurrency: NonZeroUsize::new(self.concurrency).ok_or(ConfigError::ZeroConcurrency)?,
            fifo: self.fifo,
            skip_group_on_error: self.skip_group_on_error,
            stop_on_first_failure: self.stop_on_first_failure,
        })
    }
}

/// How the records of one batch are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Up to this many at once, every record processed.
    Concurrent(NonZeroUsize),
    /// One by one, in order.
    Sequential(Stop),
}

/// What a failure stops, in a sequential plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Nothing,
    Everything,
    Group,
}

/// One record, with what the loop needs to know of it.
struct Item<R> {
    id: Option<Arc<str>>,
    group: Option<String>,
    record: R,
}

impl BatchProcessor {
    /// A builder, with the defaults of [`BatchProcessor::default`].
    pub fn builder() -> BatchProcessorBuilder {
        let defaults = Self::default();
        BatchProcessorBuilder {
            concurrency: defaults.concurrency.get(),
            fifo: defaults.fifo,
            skip_group_on_error: defaults.skip_group_on_error,
            stop_on_first_failure: defaults.stop_on_first_failure,
        }
    }

    /// Processes an SQS batch with `handler` per message; the response lists the failed
    /// messages' ids.
    ///
    /// # Errors
    /// [`BatchError`] when every message failed, or when a failed message has no id.
    pub async fn sqs<A, H, Fut, E>(
        &self,
        event: SqsEvent,
        handler: H,
    ) -> Result<SqsBatchResponse, BatchError>
    where
        A: FromRecord<SqsMessage>,
        H: Fn(A) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<lambda_runtime::Error>,
    {
        let fifo = self.fifo
            || event.records.iter().any(|message| {
                message
                    .event_source_arn
                    .as_deref()
                    .is_some_and(|arn| arn.ends_with(".fifo"))
            });
        let plan = match (fifo, self.skip_group_on_error) {
            (true, true) => Plan::Sequential(Stop::Group),
            (true, false) => Plan::Sequential(Stop::Everything),
            (false, _) => Plan::Concurrent(self.concurrency),
        };
        let items = event.records.into_iter().map(|message| Item {
            id: message.message_id.as_deref().map(Arc::from),
            group: if fifo {
                message.attributes.get("MessageGroupId").cloned()
            } else {
                None
            },
            record: message,
        });
        let failed = run(items, plan, &handler).await?;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        Ok(response)
    }

    /// Processes a Kinesis Data Streams batch with `handler` per record; the response lists
    /// the failed records' sequence numbers.
    ///
    /// # Errors
    /// [`BatchError`] when every record failed, or when a failed record has no sequence number.
    pub async fn kinesis<A, H, Fut, E>(
        &self,
        event: KinesisEvent,
        handler: H,
    ) -> Result<KinesisEventResponse, BatchError>
    where
        A: FromRecord<KinesisEventRecord>,
        H: Fn(A) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<lambda_runtime::Error>,
    {
        let items = event.records.into_iter().map(|record| Item {
            id: Some(record.kinesis.sequence_number.as_str())
                .filter(|id| !id.is_empty())
                .map(Arc::from),
            group: None,
            record,
        });
        let failed = run(items, self.stream_plan(), &handler).await?;
        let mut response = KinesisEventResponse::default();
        response.set_failures(failed);
        Ok(response)
    }

    /// Processes a DynamoDB Streams batch with `handler` per record; the response lists the
    /// failed records' sequence numbers.
    ///
    /// # Errors
    /// [`BatchError`] when every record failed, or when a failed record has no sequence number.
    pub async fn dynamodb<A, H, Fut, E>(
        &self,
        event: DynamoDbEvent,
        handler: H,
    ) -> Result<DynamoDbEventResponse, BatchError>
    where
        A: FromRecord<DynamoDbRecord>,
        H: Fn(A) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<lambda_runtime::Error>,
    {
        let items = event.records.into_iter().map(|record| Item {
            id: record.change.sequence_number.as_deref().map(Arc::from),
            group: None,
            record,
        });
        let failed = run(items, self.stream_plan(), &handler).await?;
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(id);
                failure
            })
            .collect();
        Ok(response)
    }

    fn stream_plan(&self) -> Plan {
        Plan::Sequential(if self.stop_on_first_failure {
            Stop::Everything
        } else {
            Stop::Nothing
        })
    }
}

/// Runs every item under `plan`; the identifiers of the failed ones, in the batch's order.
async fn run<R, A, H, Fut, E>(
    items: impl ExactSizeIterator<Item = Item<R>>,
    plan: Plan,
    handler: &H,
) -> Result<Vec<String>, BatchError>
where
    A: FromRecord<R>,
    H: Fn(A) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<lambda_runtime::Error>,
{
    let total = items.len();
    let mut failures: Vec<(usize, RecordFailure)> = Vec::new();
    let failure = |id: Option<Arc<str>>, failure| RecordFailure {
        id: id.map(|id| id.to_string()),
        failure,
    };
    match plan {
        Plan::Concurrent(limit) if limit.get() > 1 => {
            let mut pending = items.enumerate();
            let mut running = FuturesUnordered::new();
            loop {
                while running.len() < limit.get() {
                    let Some((index, item)) = pending.next() else {
                        break;
                    };
                    let work = run_one(item.id.clone(), item.record, handler);
                    running.push(async move { (index, item.id, work.await) });
                }
                let Some((index, id, outcome)) = running.next().await else {
                    break;
                };
                if let Err(error) = outcome {
                    failures.push((index, failure(id, error)));
                }
            }
            failures.sort_by_key(|(index, _)| *index);
        }
        Plan::Concurrent(_) => {
            for (index, item) in items.enumerate() {
                if let Err(error) = run_one(item.id.clone(), item.record, handler).await {
                    failures.push((index, failure(item.id, error)));
                }
            }
        }
        Plan::Sequential(stop) => {
            // The first failed record of the batch, and of each message group.
            let mut first_failed: Option<String> = None;
            let mut failed_groups: HashMap<Option<String>, String> = HashMap::new();
            for (index, item) in items.enumerate() {
                let skip = match stop {
                    Stop::Everything => first_failed.clone(),
                    Stop::Group => failed_groups.get(&item.group).cloned(),
                    Stop::Nothing => None,
                };
                if let Some(after) = skip {
                    failures.push((index, failure(item.id, Failure::Skipped { after })));
                    continue;
                }
                if let Err(error) = run_one(item.id.clone(), item.record, handler).await {
                    let id = item.id.as_deref().unwrap_or_default().to_owned();
                    first_failed.get_or_insert_with(|| id.clone());
                    failed_groups.entry(item.group).or_insert(id);
                    failures.push((index, failure(item.id, error)));
                }
            }
        }
    }
    let failures: Vec<RecordFailure> = failures.into_iter().map(|(_, f)| f).collect();
    if failures.iter().any(|f| f.id.is_none()) {
        return Err(BatchError::Unidentified { failures });
    }
    if total > 0 && failures.len() == total {
        return Err(BatchError::AllFailed { failures });
    }
    Ok(failures.into_iter().filter_map(|f| f.id).collect())
}

/// Runs one record inside its correlation id and `## record` span: parsed, handled, its panic
/// caught. The record is parsed before the returned future is built, so that the record
/// (often large) is not moved through the future's states, only the handler's input.
fn run_one<R, A, H, Fut, E>(
    id: Option<Arc<str>>,
    record: R,
    handler: &H,
) -> impl Future<Output = Result<(), Failure>>
where
    A: FromRecord<R>,
    H: Fn(A) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<lambda_runtime::Error>,
{
    // Without a subscriber, `tracing` would send the span to the `log` crate instead: a cost
    // per record for a line nobody reads.
    let span = if tracing::dispatcher::has_been_set() {
        tracing::info_span!(
            "## record",
            annotation.record_id = id.as_deref().unwrap_or_default()
        )
    } else {
        tracing::Span::none()
    };
    let input = span.in_scope(|| catch_panic_sync(|| A::from_record(record)));
    let scope = id.clone();
    let work = async move {
        let outcome = match input {
            Err(panicked) => Err(Failure::Panicked(panicked.message().to_owned())),
            Ok(Err(error)) => Err(Failure::Parse(error)),
            Ok(Ok(input)) => match catch_panic(|| handler(input)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(Failure::Handler(error.into())),
                Err(panicked) => Err(Failure::Panicked(panicked.message().to_owned())),
            },
        };
        if let Err(failure) = &outcome {
            tracing::error!(
                target: "powertools_batch",
                record_id = id.as_deref().unwrap_or_default(),
                reason = %failure,
                "record failed"
            );
        }
        outcome
    }
    .instrument(span);
    match scope {
        Some(id) => Either::Left(with_correlation_id(id, work)),
        None => Either::Right(work),
    }
}
