//! The processor's semantics for every source: what runs, in which order, what is reported.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lambda_events::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use powertools_batch::{
    BatchError, BatchProcessor, ConfigError, Failure, Json, NewImage, sqs_handler,
};
use powertools_testing::events;
use serde::Deserialize;
use serde_json::json;
use tower::ServiceExt as _;

#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    quantity: u32,
}

/// An SQS batch from the testing kit's fixture: one message per `(message id, group, body)`.
fn sqs_event(arn: &str, messages: &[(&str, &str, &str)]) -> SqsEvent {
    let mut builder = events::sqs();
    if arn == FIFO {
        builder = builder.fifo();
    }
    for (id, group, body) in messages {
        builder = builder.message_in_group(*id, *group, *body);
    }
    serde_json::from_value(builder.build()).unwrap()
}

const STANDARD: &str = "arn:aws:sqs:eu-west-1:123456789012:orders";
const FIFO: &str = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo";

fn order(id: &str, quantity: u32) -> String {
    json!({"order_id": id, "quantity": quantity}).to_string()
}

type BoxedResult<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Fails an order with quantity 0, panics on quantity 13, records the ids it was given.
fn handler<'a>(seen: &'a Mutex<Vec<String>>) -> impl Fn(Json<Order>) -> BoxedResult<'a> + 'a {
    move |Json(order): Json<Order>| {
        Box::pin(async move {
            seen.lock().unwrap().push(order.order_id.clone());
            tokio::task::yield_now().await;
            match order.quantity {
                0 => Err(format!("order {} is empty", order.order_id)),
                13 => panic!("unlucky order {}", order.order_id),
                _ => Ok(()),
            }
        })
    }
}

fn failed_ids(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_malformed_failing_or_panicking_record_fails_alone() {
    let seen = Mutex::new(Vec::new());
    let event = sqs_event(
        STANDARD,
        &[
            ("m-1", "", &order("o-1", 1)),
            ("m-2", "", "{not json"),
            ("m-3", "", &order("o-3", 0)),
            ("m-4", "", &order("o-4", 13)),
            ("m-5", "", r#"{"order_id":"o-5"}"#),
            ("m-6", "", &order("o-6", 2)),
        ],
    );
    let response = BatchProcessor::default()
        .sqs(event, handler(&seen))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), ["m-2", "m-3", "m-4", "m-5"]);
    let mut ran = seen.into_inner().unwrap();
    ran.sort();
    assert_eq!(
        ran,
        ["o-1", "o-3", "o-4", "o-6"],
        "malformed bodies never reach the handler"
    );
}

#[tokio::test]
async fn every_record_failed_fails_the_batch_with_each_reason() {
    let seen = Mutex::new(Vec::new());
    let event = sqs_event(
        STANDARD,
        &[
            ("m-1", "", &order("o-1", 0)),
            ("m-2", "", r#""4111 1111""#),
            ("m-3", "", &order("o-3", 13)),
        ],
    );
    let error = BatchProcessor::default()
        .sqs(event, handler(&seen))
        .await
        .unwrap_err();
    let BatchError::AllFailed { failures } = &error else {
        panic!("{error:?}")
    };
    let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "m-1: the handler failed: order o-1 is empty",
            "m-2: the SQS body is not a valid `Order`: invalid type: string, expected struct Order at line 1 column 11",
            "m-3: the handler panicked: unlucky order o-3",
        ]
    );
    assert!(
        error
            .to_string()
            .starts_with("every record of the batch failed (3); the first: m-1")
    );

    let empty = BatchProcessor::default()
        .sqs(SqsEvent::default(), handler(&seen))
        .await
        .unwrap();
    assert!(empty.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_failed_record_without_an_id_fails_the_whole_batch() {
    let mut event = sqs_event(STANDARD, &[("m-1", "", &order("o-1", 1)), ("m-2", "", "x")]);
    event.records[1].message_id = None;
    let error = BatchProcessor::default()
        .sqs(event, |_: SqsMessage| async { Err::<(), _>("no") })
        .await
        .unwrap_err();
    assert!(
        matches!(error, BatchError::Unidentified { .. }),
        "{error:?}"
    );
    assert_eq!(error.failures().len(), 2);
}

#[tokio::test]
async fn standard_queues_run_records_concurrently_up_to_the_limit() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let order_seen = Mutex::new(Vec::new());
    let messages: Vec<(String, String)> = (0..20)
        .map(|i| (format!("m-{i:02}"), order(&format!("o-{i:02}"), 1)))
        .collect();
    let refs: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|(id, body)| (id.as_str(), "", body.as_str()))
        .collect();
    let record = |Json(order): Json<Order>| {
        let (running, peak, order_seen) = (&running, &peak, &order_seen);
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            order_seen.lock().unwrap().push(order.order_id);
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, String>(())
        }
    };
    let processor = BatchProcessor::builder().concurrency(4).build().unwrap();
    processor
        .sqs(sqs_event(STANDARD, &refs), &record)
        .await
        .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 4);
    assert_eq!(order_seen.lock().unwrap().len(), 20);

    peak.store(0, Ordering::SeqCst);
    order_seen.lock().unwrap().clear();
    let one_by_one = BatchProcessor::builder().concurrency(1).build().unwrap();
    one_by_one
        .sqs(sqs_event(STANDARD, &refs), &record)
        .await
        .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    let expected: Vec<String> = (0..20).map(|i| format!("o-{i:02}")).collect();
    assert_eq!(*order_seen.lock().unwrap(), expected);

    assert_eq!(
        BatchProcessor::builder()
            .concurrency(0)
            .build()
            .unwrap_err(),
        ConfigError::ZeroConcurrency
    );
}

#[tokio::test]
async fn a_fifo_queue_stops_at_the_first_failure_and_reports_every_later_message() {
    let seen = Mutex::new(Vec::new());
    let event = sqs_event(
        FIFO,
        &[
            ("m-1", "a", &order("o-1", 1)),
            ("m-2", "b", &order("o-2", 0)),
            ("m-3", "a", &order("o-3", 1)),
            ("m-4", "c", &order("o-4", 1)),
        ],
    );
    let response = BatchProcessor::default()
        .sqs(event.clone(), handler(&seen))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), ["m-2", "m-3", "m-4"]);
    assert_eq!(
        *seen.lock().unwrap(),
        ["o-1", "o-2"],
        "nothing after the failure runs"
    );

    // Per message group: only group b's later messages would be skipped; a and c go on.
    seen.lock().unwrap().clear();
    let mut grouped = event;
    grouped.records.push(
        sqs_event(FIFO, &[("m-5", "b", &order("o-5", 1))])
            .records
            .remove(0),
    );
    let processor = BatchProcessor::builder()
        .skip_group_on_error()
        .build()
        .unwrap();
    let response = processor.sqs(grouped, handler(&seen)).await.unwrap();
    assert_eq!(failed_ids(&response), ["m-2", "m-5"]);
    assert_eq!(*seen.lock().unwrap(), ["o-1", "o-2", "o-3", "o-4"]);
}

#[tokio::test]
async fn fifo_semantics_can_be_forced_and_say_which_record_stopped_the_batch() {
    let seen = Mutex::new(Vec::new());
    let event = sqs_event(
        STANDARD,
        &[
            ("m-1", "a", &order("o-1", 0)),
            ("m-2", "a", &order("o-2", 1)),
        ],
    );
    let processor = BatchProcessor::builder().fifo().build().unwrap();
    let error = processor.sqs(event, handler(&seen)).await.unwrap_err();
    let failures = error.failures();
    assert!(matches!(&failures[1].failure, Failure::Skipped { after } if after == "m-1"));
    assert_eq!(
        failures[1].to_string(),
        "m-2: not processed: record m-1 before it failed"
    );
}

fn kinesis_event(records: &[(&str, &str)]) -> KinesisEvent {
    let mut builder = events::kinesis();
    for (sequence, data) in records {
        builder = builder.record(*sequence, data);
    }
    serde_json::from_value(builder.build()).unwrap()
}

#[tokio::test]
async fn kinesis_records_report_sequence_numbers_and_can_stop_at_the_first_failure() {
    let seen = Mutex::new(Vec::new());
    let event = kinesis_event(&[
        ("100", &order("o-1", 1)),
        ("200", &order("o-2", 0)),
        ("300", "garbage"),
        ("400", &order("o-4", 1)),
    ]);
    let response = BatchProcessor::default()
        .kinesis(event.clone(), handler(&seen))
        .await
        .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, ["200", "300"]);
    assert_eq!(
        *seen.lock().unwrap(),
        ["o-1", "o-2", "o-4"],
        "in order, all processed"
    );

    seen.lock().unwrap().clear();
    let ordered = BatchProcessor::builder()
        .stop_on_first_failure()
        .build()
        .unwrap();
    let response = ordered.kinesis(event, handler(&seen)).await.unwrap();
    assert_eq!(response.batch_item_failures.len(), 3);
    assert_eq!(*seen.lock().unwrap(), ["o-1", "o-2"]);
}

#[tokio::test]
async fn dynamodb_stream_images_are_typed_and_failures_reported_by_sequence_number() {
    let order = |id: &str, quantity: i64| json!({"order_id": id, "quantity": quantity});
    let event: DynamoDbEvent = serde_json::from_value(
        events::dynamodb_streams()
            .insert("111", json!({"order_id": "111"}), order("111", 1))
            .modify(
                "222",
                json!({"order_id": "222"}),
                order("222", 1),
                order("222", 0),
            )
            .insert("333", json!({"order_id": "333"}), order("333", -1))
            .build(),
    )
    .unwrap();
    let seen = Mutex::new(Vec::new());
    let record_handler = |NewImage(order): NewImage<Order>| {
        let seen = &seen;
        async move {
            seen.lock().unwrap().push(order.order_id.clone());
            if order.quantity == 0 {
                Err("empty")
            } else {
                Ok(())
            }
        }
    };
    let response = BatchProcessor::default()
        .dynamodb(event, record_handler)
        .await
        .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, ["222", "333"], "-1 is not a u32: a parse failure");
    assert_eq!(*seen.lock().unwrap(), ["111", "222"]);
}

#[tokio::test]
async fn each_record_runs_with_its_message_id_as_the_correlation_id() {
    let ids = Mutex::new(Vec::new());
    let event = sqs_event(
        STANDARD,
        &[("m-1", "", &order("o-1", 1)), ("m-2", "", &order("o-2", 1))],
    );
    BatchProcessor::default()
        .sqs(event, |_: SqsMessage| {
            let ids = &ids;
            async move {
                tokio::task::yield_now().await;
                let id = powertools_core::scoped_correlation_id().map(|id| id.to_string());
                ids.lock().unwrap().push(id);
                Ok::<_, String>(())
            }
        })
        .await
        .unwrap();
    let mut ids = ids.into_inner().unwrap();
    ids.sort();
    assert_eq!(ids, [Some("m-1".to_owned()), Some("m-2".to_owned())]);
    assert_eq!(powertools_core::scoped_correlation_id(), None);
}

#[tokio::test]
async fn the_service_answers_the_partial_response_and_fails_when_everything_failed() {
    let seen = Mutex::new(Vec::new());
    let service = sqs_handler(BatchProcessor::default(), handler(&seen));
    let event = sqs_event(STANDARD, &[("m-1", "", &order("o-1", 1)), ("m-2", "", "x")]);
    let response = service
        .clone()
        .oneshot(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );
    let all_failed = sqs_event(STANDARD, &[("m-1", "", "x")]);
    let error = service
        .oneshot(LambdaEvent::new(all_failed, Context::default()))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("every record of the batch failed (1)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_fifo_handler_sees_the_message_group_of_its_record() {
    let groups = Mutex::new(Vec::new());
    let event = sqs_event(FIFO, &[("f-1", "g-1", "x"), ("f-2", "g-2", "y")]);
    BatchProcessor::default()
        .sqs(event, |message: SqsMessage| {
            let groups = &groups;
            async move {
                groups
                    .lock()
                    .unwrap()
                    .push(message.attributes.get("MessageGroupId").cloned());
                Ok::<_, String>(())
            }
        })
        .await
        .unwrap();
    assert_eq!(
        *groups.lock().unwrap(),
        [Some("g-1".to_owned()), Some("g-2".to_owned())]
    );
}
