//! The `metrics` facade mapped to EMF: counters summed per flush, gauges the last value (relative
//! changes applied to the current value), histograms every value, handles kept per key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{blobs, metrics};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::{ColdStart, Invocation};
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
    m.flush().unwrap();
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

/// Label values that vary per request (an order id) must not grow the recorder without
/// bound: past the cap a label set gets a handle that is not kept, and still records.
#[test]
fn handles_beyond_the_cap_are_not_kept_and_still_record() {
    use powertools_metrics::MAX_CACHED_HANDLES;
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    let beyond = MAX_CACHED_HANDLES + 5;
    metrics::with_local_recorder(&recorder, || {
        for i in 0..beyond {
            // Registered only: nothing recorded yet.
            let _ = metrics::counter!("orders", "order" => i.to_string());
        }
    });
    assert_eq!(recorder.cached_handles(), MAX_CACHED_HANDLES);
    let last = (beyond - 1).to_string();
    metrics::with_local_recorder(&recorder, || {
        // A kept handle and handles past the cap.
        metrics::counter!("orders", "order" => "0").increment(2);
        metrics::counter!("orders", "order" => "0").increment(1);
        metrics::counter!("orders", "order" => last.clone()).increment(4);
        metrics::counter!("orders", "order" => last.clone()).increment(5);
        metrics::histogram!("size", "order" => last.clone()).record(7.0);
        metrics::histogram!("size", "order" => last.clone()).record(8.0);
    });
    assert_eq!(recorder.cached_handles(), MAX_CACHED_HANDLES);
    m.flush().unwrap();
    let mut values: Vec<(Value, Value, Value)> = blobs(&captured)
        .iter()
        .map(|b| {
            (
                b["order"].clone(),
                b.get("orders").cloned().unwrap_or(Value::Null),
                b.get("size").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    values.sort_by_key(|(order, _, _)| order.to_string());
    assert_eq!(
        values,
        [
            (json!("0"), json!([3.0]), Value::Null),
            (json!(last), json!([9.0]), json!([7.0, 8.0])),
        ]
    );
}

/// Runs `work` with one handle of the counter `orders` on `threads` threads at once, each
/// inside its own invocation tagged with metadata `request` = its number, flushing it at the end.
fn on_concurrent_invocations(
    m: &Metrics,
    threads: u64,
    work: impl Fn(&metrics::Counter, u64) + Sync,
) {
    let recorder = MetricsRecorder::new(m.clone());
    let counter = metrics::with_local_recorder(&recorder, || metrics::counter!("orders"));
    let start = std::sync::Barrier::new(usize::try_from(threads).unwrap_or(1));
    std::thread::scope(|s| {
        for t in 1..=threads {
            let (counter, work, start) = (&counter, &work, &start);
            s.spawn(move || {
                Invocation::builder(format!("req-{t}"))
                    .build()
                    .sync_scope(|| {
                        start.wait();
                        work(counter, t);
                        m.add_metadata("request", json!(t)).unwrap();
                        m.flush().unwrap();
                    });
            });
        }
    });
    // The handle's total is shared: one more invocation sees every increase counted once.
    Invocation::builder("after").build().sync_scope(|| {
        work(&counter, 0);
        m.add_metadata("request", json!(0)).unwrap();
        m.flush().unwrap();
    });
}

/// `request` -> the `orders` values of that invocation's blob.
fn orders_by_request(captured: &CapturedOutput) -> Vec<(u64, Value)> {
    let mut values: Vec<(u64, Value)> = blobs(captured)
        .iter()
        .filter(|b| b.get("orders").is_some())
        .map(|b| {
            (
                b["request"].as_u64().unwrap_or(u64::MAX),
                b["orders"].clone(),
            )
        })
        .collect();
    values.sort_by_key(|(r, _)| *r);
    values
}

#[test]
fn concurrent_increments_of_one_counter_stay_in_their_invocation_and_none_is_lost() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 2_000;
    let (m, captured) = metrics(&[]);
    let all: u64 = (1..=THREADS).map(|t| t * PER_THREAD).sum();
    on_concurrent_invocations(&m, THREADS, |counter, t| {
        if t == 0 {
            // Every increment reached the total: this total adds nothing, one more adds 1.
            counter.absolute(all);
            counter.absolute(all + 1);
        } else {
            for _ in 0..PER_THREAD {
                counter.increment(t);
            }
        }
    });
    let expected: Vec<(u64, Value)> = std::iter::once((0, json!([1.0])))
        .chain((1..=THREADS).map(|t| (t, json!([(t * PER_THREAD) as f64]))))
        .collect();
    assert_eq!(orders_by_request(&captured), expected);
}

#[test]
fn concurrent_absolute_totals_count_each_increase_once() {
    const THREADS: u64 = 8;
    const TOP: u64 = 5_000;
    let (m, captured) = metrics(&[]);
    on_concurrent_invocations(&m, THREADS, |counter, t| {
        if t == 0 {
            counter.absolute(TOP + 3);
        } else {
            for total in 1..=TOP {
                counter.absolute(total);
            }
        }
    });
    let values = orders_by_request(&captured);
    // Each invocation writes the increases it saw; together they make the highest total.
    let sum: f64 = values
        .iter()
        .filter(|(r, _)| *r != 0)
        .filter_map(|(_, v)| v[0].as_f64())
        .sum();
    assert_eq!(sum, TOP as f64, "{values:?}");
    assert_eq!(values.first(), Some(&(0, json!([3.0]))));
}

#[test]
fn a_unit_described_after_a_handle_was_made_applies_to_it() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    metrics::with_local_recorder(&recorder, || {
        let latency = metrics::histogram!("latency");
        let upload = metrics::histogram!("upload", "route" => "/a");
        latency.record(1.0);
        m.flush().unwrap();
        metrics::describe_histogram!("latency", metrics::Unit::Milliseconds, "latency");
        metrics::describe_histogram!("upload", metrics::Unit::Kibibytes, "upload size");
        latency.record(2.0);
        upload.record(2.0);
        // A handle made after the description has it too.
        metrics::histogram!("upload", "route" => "/b").record(1.0);
    });
    m.flush().unwrap();
    let units: Vec<(String, String, Value)> = blobs(&captured)
        .iter()
        .flat_map(|b| {
            let definitions = b["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            definitions.into_iter().map(move |d| {
                let name = d["Name"].as_str().unwrap_or_default().to_owned();
                (
                    name.clone(),
                    d["Unit"].as_str().unwrap_or_default().to_owned(),
                    b[name.as_str()].clone(),
                )
            })
        })
        .collect();
    assert_eq!(
        units,
        [
            ("latency".to_owned(), "None".to_owned(), json!([1.0])),
            (
                "latency".to_owned(),
                "Milliseconds".to_owned(),
                json!([2.0])
            ),
            ("upload".to_owned(), "Bytes".to_owned(), json!([2048.0])),
            ("upload".to_owned(), "Bytes".to_owned(), json!([1024.0])),
        ]
    );
}

/// What a step of [`counters_match_a_model_across_interleaved_invocations`] does.
#[derive(Debug, Clone)]
enum Step {
    /// `counter!(name).increment(value)` inside invocation `slot`.
    Increment {
        slot: usize,
        counter: usize,
        value: u64,
    },
    /// `counter!(name).absolute(total)` inside invocation `slot`.
    Absolute {
        slot: usize,
        counter: usize,
        total: u64,
    },
    /// The flush at the end of invocation `slot`; a new invocation takes the slot.
    Flush { slot: usize },
    /// Invocation `slot` ends without a flush (its values go with it); a new one takes it.
    Abandon { slot: usize },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let value = prop_oneof![0..20_u64, Just(u64::MAX), Just(u64::MAX / 2 + 1)];
    prop_oneof![
        6 => (0..3_usize, 0..2_usize, value).prop_map(|(slot, counter, value)| Step::Increment { slot, counter, value }),
        1 => (0..3_usize, 0..2_usize, 0..200_u64).prop_map(|(slot, counter, total)| Step::Absolute { slot, counter, total }),
        2 => (0..3_usize).prop_map(|slot| Step::Flush { slot }),
        1 => (0..3_usize).prop_map(|slot| Step::Abandon { slot }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, failure_persistence: None, .. proptest::prelude::ProptestConfig::default() })]

    /// Three invocations alive at once on one thread, switching between them at every step:
    /// each flush writes exactly what its invocation counted since its last flush (the sum of
    /// its increments and of the increases its `absolute` totals added), whichever of them
    /// owned a counter's lock-free sum, however they ended, and with sums past `u64::MAX`.
    #[test]
    fn counters_match_a_model_across_interleaved_invocations(
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        const NAMES: [&str; 2] = ["orders", "bytes"];
        let (m, captured) = metrics(&[]);
        let recorder = MetricsRecorder::new(m.clone());
        let new_invocation = |n: &mut u64| {
            *n += 1;
            Invocation::builder(format!("req-{n}")).build()
        };
        let mut opened = 0_u64;
        let mut slots: Vec<Invocation> = (0..3).map(|_| new_invocation(&mut opened)).collect();
        // The model: per slot and counter, the exact sum since the last flush (None: untouched).
        let mut model: Vec<[Option<u128>; 2]> = vec![[None, None]; 3];
        let mut total = [0_u64; 2];
        // Expected blobs: (invocation serial, counter values), in flush order.
        let mut expected: Vec<(u64, [Option<u128>; 2])> = Vec::new();
        for step in steps {
            match step {
                Step::Increment { slot, counter, value } => {
                    slots[slot].clone().sync_scope(|| metrics::with_local_recorder(&recorder, || {
                        metrics::counter!(NAMES[counter]).increment(value);
                    }));
                    total[counter] = total[counter].saturating_add(value);
                    let sum = model[slot][counter].get_or_insert(0);
                    *sum += u128::from(value);
                }
                Step::Absolute { slot, counter, total: new } => {
                    slots[slot].clone().sync_scope(|| metrics::with_local_recorder(&recorder, || {
                        metrics::counter!(NAMES[counter]).absolute(new);
                    }));
                    if new > total[counter] {
                        let sum = model[slot][counter].get_or_insert(0);
                        *sum += u128::from(new - total[counter]);
                        total[counter] = new;
                    }
                }
                Step::Flush { slot } => {
                    let serial = slots[slot].serial();
                    slots[slot].clone().sync_scope(|| {
                        m.add_metadata("serial", json!(serial)).unwrap();
                        let _ = m.flush();
                    });
                    if model[slot].iter().any(Option::is_some) {
                        expected.push((serial, model[slot]));
                    }
                    model[slot] = [None, None];
                    slots[slot] = new_invocation(&mut opened);
                }
                Step::Abandon { slot } => {
                    model[slot] = [None, None];
                    slots[slot] = new_invocation(&mut opened);
                }
            }
        }
        let written: Vec<(u64, [Option<f64>; 2])> = blobs(&captured)
            .iter()
            .map(|b| {
                let value = |name: &str| {
                    b.get(name).map(|v| {
                        assert_eq!(v.as_array().map(Vec::len), Some(1), "{b}");
                        v[0].as_f64().unwrap()
                    })
                };
                (b["serial"].as_u64().unwrap(), [value(NAMES[0]), value(NAMES[1])])
            })
            .collect();
        proptest::prop_assert_eq!(written.len(), expected.len(), "{:?} vs {:?}", written, expected);
        for ((serial, values), (want_serial, want)) in written.iter().zip(&expected) {
            proptest::prop_assert_eq!(serial, want_serial);
            for (value, want) in values.iter().zip(want) {
                match (value, want) {
                    (None, None) => {}
                    // Whole sums below 2^53 are exact; above, within float rounding.
                    (Some(value), Some(want)) => {
                        let want = *want as f64;
                        proptest::prop_assert!(
                            *value == want || ((value - want) / want).abs() < 1e-12,
                            "{} vs {}", value, want
                        );
                    }
                    _ => proptest::prop_assert!(false, "{:?} vs {:?}", values, want),
                }
            }
        }
    }
}

/// Sums past `u64::MAX` within one invocation are written in full (an owner's lock-free sum
/// that would overflow goes down the full path).
#[test]
fn counter_sums_past_u64_max_are_not_capped() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    Invocation::builder("r").build().sync_scope(|| {
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                metrics::counter!("bytes").increment(u64::MAX);
            }
        });
        m.flush().unwrap();
    });
    assert_eq!(blobs(&captured)[0]["bytes"], json!([3.0 * 2_f64.powi(64)]));
}

/// A counter whose described unit has a factor (nanoseconds to microseconds) is summed after
/// the factor, value by value, as before: its values never wait in the whole-number sum.
#[test]
fn a_counter_with_a_converted_unit_sums_converted_values() {
    let (m, captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    Invocation::builder("r").build().sync_scope(|| {
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("wait", metrics::Unit::Nanoseconds, "wait");
            for _ in 0..3 {
                metrics::counter!("wait").increment(1_500);
            }
        });
        m.flush().unwrap();
    });
    let blob = &blobs(&captured)[0];
    assert_eq!(blob["wait"], json!([1.5 + 1.5 + 1.5]));
    assert_eq!(
        blob["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Microseconds"
    );
}
