//! Per-record overhead of the batch processor (parse, dispatch, report) against a hand-written
//! loop doing the same work: parse each SQS body with serde, call the handler, collect the
//! failed message ids into an `SqsBatchResponse`.
//!
//! - `hand-written loop`: the floor, what a user writes without the crate.
//! - `BatchProcessor, one by one`: `concurrency(1)`, the same order as the loop.
//! - `BatchProcessor, concurrent (10)`: the default for standard queues.
//!
//! Every record's handler does the same trivial work, so the difference is the processor's
//! own cost: the per-record scope (correlation id, `## record` span), the panic guard and the
//! report. One record in ten fails. Both sides consume a fresh copy of the event.
//!
//! Run with `cargo bench -p powertools-benches --bench batch`.

use std::hint::black_box;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use powertools_batch::{BatchProcessor, Json};
use serde::Deserialize;

#[derive(Deserialize)]
struct Order {
    order_id: String,
    quantity: u32,
}

async fn handle(order: Order) -> Result<(), String> {
    if order.quantity == 0 {
        return Err(format!("order {} is empty", order.order_id));
    }
    black_box(order.order_id.len() + order.quantity as usize);
    Ok(())
}

fn event(records: usize) -> SqsEvent {
    let mut event = SqsEvent::default();
    for i in 0..records {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("059f36b4-87a3-44ab-83d2-{i:012}"));
        message.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:orders".into());
        let quantity = if i % 10 == 9 { 0 } else { 1 + i % 5 };
        message.body = Some(format!(
            r#"{{"order_id":"o-{i}","customer_id":"c-{i}","sku":"BOOK-1984","quantity":{quantity}}}"#
        ));
        event.records.push(message);
    }
    event
}

/// What a user writes without the crate.
async fn hand_written(event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        let outcome = match serde_json::from_str::<Order>(message.body.as_deref().unwrap_or("")) {
            Ok(order) => handle(order).await,
            Err(e) => Err(e.to_string()),
        };
        if outcome.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn record(Json(order): Json<Order>) -> Result<(), String> {
    handle(order).await
}

fn batch(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            return;
        }
    };
    let one_by_one = match BatchProcessor::builder().concurrency(1).build() {
        Ok(processor) => processor,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let concurrent = BatchProcessor::default();
    let mut group = c.benchmark_group("sqs_batch");
    for records in [10, 1000] {
        let event = event(records);
        group.bench_with_input(
            BenchmarkId::new("hand-written loop", records),
            &event,
            |b, event| {
                b.to_async(&runtime).iter_batched(
                    || event.clone(),
                    |event| async move { black_box(hand_written(event).await) },
                    BatchSize::SmallInput,
                );
            },
        );
        group.bench_with_input(
            BenchmarkId::new("BatchProcessor, one by one", records),
            &event,
            |b, event| {
                b.to_async(&runtime).iter_batched(
                    || event.clone(),
                    |event| {
                        let processor = &one_by_one;
                        async move { black_box(processor.sqs(event, record).await.ok()) }
                    },
                    BatchSize::SmallInput,
                );
            },
        );
        group.bench_with_input(
            BenchmarkId::new("BatchProcessor, concurrent (10)", records),
            &event,
            |b, event| {
                b.to_async(&runtime).iter_batched(
                    || event.clone(),
                    |event| {
                        let processor = &concurrent;
                        async move { black_box(processor.sqs(event, record).await.ok()) }
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
