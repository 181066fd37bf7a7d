//! The `metrics` facade mapped to EMF: counters summed per flush, gauges the last value (relative
//! changes applied to the current value), histograms every value, handles kept per key.

mod common;

use std::sync::Arc;

use common::{blobs, metrics};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::ColdStart;
use powertools_metrics::{Metrics, MetricsRecorder};
use powertools_testing::CapturedOutput;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

/// Runs `record` as the handler of one invocation, with `recorder` as the facade's recorder.
async fn invoke(m: &Metrics, recorder: &MetricsRecorder, request_id: &str, record: fn()) {
    let service = m
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(move |_e: LambdaEvent<Value>| async move {
            record();
            Ok::<_, Error>(())
        }));
    let call = service.oneshot(powertools_testing::test_event(request_id, json!({})));
    // The local recorder is thread-scoped: drive the invocation on this thread.
    let result = {
        let _guard = metrics::set_default_local_recorder(recorder);
        call.await
    };
    assert!(result.is_ok());
}

/// The blobs of the invocations (not the cold-start blob), in order.
fn invocation_blobs(captured: &CapturedOutput) -> Vec<Value> {
    blobs(captured)
        .into_iter()
        .filter(|b| b.get("ColdStart").is_none())
        .collect()
}

#[tokio::test]
async fn counters_are_summed_into_one_value_per_flush_and_label_set() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    invoke(&m, &recorder, "r1", || {
        metrics::counter!("orders").increment(2);
        metrics::counter!("orders").increment(1);
        metrics::counter!("orders", "route" => "/a").increment(4);
        metrics::counter!("orders", "route" => "/a").increment(5);
    })
    .await;
    invoke(&m, &recorder, "r2", || {
        metrics::counter!("orders").increment(7);
    })
    .await;
    let blobs = invocation_blobs(&captured);
    let values: Vec<(Value, Value)> = blobs
        .iter()
        .map(|b| {
            (
                b["orders"].clone(),
                b.get("route").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        values,
        [
            (json!([3.0]), Value::Null),
            (json!([9.0]), json!("/a")),
            (json!([7.0]), Value::Null),
        ]
    );
}

#[tokio::test]
async fn counter_absolute_adds_the_increase_since_the_last_total() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    invoke(&m, &recorder, "r1", || {
        metrics::counter!("bytes_read").absolute(10);
        metrics::counter!("bytes_read").absolute(15);
        // A total below the last one adds nothing (a counter never goes down).
        metrics::counter!("bytes_read").absolute(12);
    })
    .await;
    invoke(&m, &recorder, "r2", || {
        metrics::counter!("bytes_read").absolute(20);
        metrics::counter!("bytes_read").increment(1);
    })
    .await;
    let values: Vec<Value> = invocation_blobs(&captured)
        .iter()
        .map(|b| b["bytes_read"].clone())
        .collect();
    assert_eq!(values, [json!([15.0]), json!([6.0])]);
}

#[tokio::test]
async fn gauges_write_the_last_value_with_relative_changes_applied() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    invoke(&m, &recorder, "r1", || {
        metrics::gauge!("queue_depth").set(10.0);
        metrics::gauge!("queue_depth").increment(5.0);
        metrics::gauge!("queue_depth").decrement(2.0);
        metrics::gauge!("in_flight").increment(1.0);
        metrics::gauge!("in_flight").increment(1.0);
    })
    .await;
    // The gauge keeps its value between invocations: a change applies to it.
    invoke(&m, &recorder, "r2", || {
        metrics::gauge!("queue_depth").decrement(3.0);
        metrics::gauge!("in_flight").decrement(1.0);
    })
    .await;
    let blobs = invocation_blobs(&captured);
    let values: Vec<(Value, Value)> = blobs
        .iter()
        .map(|b| (b["queue_depth"].clone(), b["in_flight"].clone()))
        .collect();
    assert_eq!(
        values,
        [(json!([13.0]), json!([2.0])), (json!([10.0]), json!([1.0]))]
    );
}

#[tokio::test]
async fn histograms_write_every_value() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    invoke(&m, &recorder, "r1", || {
        metrics::histogram!("latency").record(12.5);
        metrics::histogram!("latency").record(3.0);
        metrics::histogram!("latency").record(12.5);
    })
    .await;
    assert_eq!(
        invocation_blobs(&captured)[0]["latency"],
        json!([12.5, 3.0, 12.5])
    );
}

#[test]
fn handles_are_kept_per_key() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    metrics::with_local_recorder(&recorder, || {
        let first = metrics::gauge!("depth", "queue" => "a");
        first.set(4.0);
        // Another macro call for the same key reaches the same gauge.
        metrics::gauge!("depth", "queue" => "a").increment(1.0);
        // Another label set is another gauge.
        metrics::gauge!("depth", "queue" => "b").increment(1.0);
    });
    m.flush().unwrap_or_else(|e| unreachable!("{e}"));
    let mut values: Vec<(Value, Value)> = blobs(&captured)
        .iter()
        .map(|b| (b["queue"].clone(), b["depth"].clone()))
        .collect();
    values.sort_by_key(|(q, _)| q.to_string());
    assert_eq!(
        values,
        [(json!("a"), json!([5.0])), (json!("b"), json!([1.0]))]
    );
}
