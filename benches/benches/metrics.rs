//! EMF costs: `add_metric`, flushing 100 metrics x 1 value and 1 metric x 100 values vs a bare
//! `serde_json` write of the same document (the floor), and the `metrics` macro path through the
//! recorder. Allocations per `add_metric` are printed once.
//!
//! Run with `cargo bench -p powertools-benches --bench metrics`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_core::Invocation;
use powertools_metrics::{Metrics, MetricsRecorder, Unit};
use serde_json::{Map, Value, json};

fn client() -> Metrics {
    Metrics::builder()
        .env(powertools_core::Env::from_lookup(|_| None))
        .namespace("Bench")
        .service_name("orders")
        .writer(powertools_core::LineWriter::new(std::io::sink))
        .build()
        .unwrap_or_else(|e| unreachable!("{e}"))
}

/// The document the client writes for `metrics` x `values`, as a prebuilt JSON value.
fn document(metrics: usize, values: usize) -> Value {
    let definitions: Vec<Value> = (0..metrics)
        .map(|i| json!({"Name": format!("metric_{i}"), "Unit": "Count"}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({"Timestamp": 1_763_732_547_123_u64, "CloudWatchMetrics": [{"Namespace": "Bench", "Dimensions": [["service"]], "Metrics": definitions}]}),
    );
    root.insert("service".into(), json!("orders"));
    for i in 0..metrics {
        root.insert(format!("metric_{i}"), json!(vec![1.0_f64; values]));
    }
    Value::Object(root)
}

fn floor(out: &mut Vec<u8>, doc: &Value) {
    out.clear();
    let _ = serde_json::to_writer(&mut *out, doc);
    out.push(b'\n');
    let _ = std::io::Write::write_all(&mut std::io::sink(), out);
}

fn fill(m: &Metrics, names: &[String], values: usize) {
    for name in names {
        for _ in 0..values {
            let _ = m.add_metric(name, Unit::Count, 1.0);
        }
    }
}

fn bench(c: &mut Criterion) {
    let m = client();
    let invocation = Invocation::builder("bench").build();

    let info = allocation_counter::measure(|| {
        invocation.clone().sync_scope(|| {
            for _ in 0..1_000 {
                let _ = m.add_metric("OrderAccepted", Unit::Count, 1.0);
                if m.flush().is_err() {
                    break;
                }
            }
        });
    });
    let flush_only = allocation_counter::measure(|| {
        invocation.clone().sync_scope(|| {
            for _ in 0..1_000 {
                let _ = m.flush();
            }
        });
    });
    eprintln!(
        "allocations per add_metric + flush of one metric: {:.1} (an empty flush: {:.1})",
        info.count_total as f64 / 1_000.0,
        flush_only.count_total as f64 / 1_000.0
    );

    let mut group = c.benchmark_group("add_metric");
    group.bench_function("add_metric (one metric, in an invocation)", |b| {
        invocation.clone().sync_scope(|| {
            let mut n = 0u32;
            b.iter(|| {
                let _ = m.add_metric(black_box("OrderAccepted"), Unit::Count, 1.0);
                n += 1;
                if n == 99 {
                    let _ = m.flush();
                    n = 0;
                }
            });
        });
    });
    let recorder = MetricsRecorder::new(m.clone());
    let counted = |run: &dyn Fn()| {
        let info = allocation_counter::measure(|| {
            for _ in 0..1_000 {
                run();
            }
        });
        info.count_total as f64 / 1_000.0
    };
    let ours = invocation.clone().sync_scope(|| {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("orders_accepted").increment(1);
            counted(&|| metrics::counter!("orders_accepted").increment(1))
        })
    });
    let _ = m.flush();
    // The peer installs itself as the global recorder (ours is a local one, which the macros
    // look up first).
    let peer = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("Bench")
        .with_dimension("service", "orders")
        .init();
    if let Ok(peer) = peer {
        metrics::counter!("orders_accepted").increment(1);
        eprintln!(
            "allocations per counter! after the first: powertools-metrics {ours:.1}, metrics_cloudwatch_embedded {:.1}",
            counted(&|| metrics::counter!("orders_accepted").increment(1))
        );
        group.bench_function("peer: metrics_cloudwatch_embedded counter!", |b| {
            let mut n = 0u32;
            b.iter(|| {
                metrics::counter!("orders_accepted").increment(1);
                n += 1;
                if n == 99 {
                    let _ = peer.flush(std::io::sink());
                    n = 0;
                }
            });
        });
    }
    let mut peer = victors_lambdas_metrics::Metrics::with_config(
        victors_lambdas_metrics::MetricsConfig::new("orders", "Bench"),
    );
    group.bench_function(
        "peer: victors-lambdas-metrics try_add_metric (one metric)",
        |b| {
            // The peer refuses a 101st value before a flush.
            let mut n = 0u32;
            b.iter(|| {
                let _ = peer.try_add_metric(
                    black_box("OrderAccepted"),
                    1.0,
                    victors_lambdas_metrics::MetricUnit::Count,
                );
                n += 1;
                if n == 99 {
                    let _ = peer.write_to(&mut std::io::sink());
                    n = 0;
                }
            });
        },
    );
    peer.clear();
    group.bench_function("metrics::counter! through the recorder", |b| {
        invocation.clone().sync_scope(|| {
            metrics::with_local_recorder(&recorder, || {
                let mut n = 0u32;
                b.iter(|| {
                    metrics::counter!("orders_accepted").increment(1);
                    n += 1;
                    if n == 99 {
                        let _ = m.flush();
                        n = 0;
                    }
                });
            });
        });
    });
    group.finish();

    let mut group = c.benchmark_group("flush");
    for (name, metrics, values) in [
        ("100 metrics x 1 value", 100, 1),
        ("1 metric x 100 values", 1, 100),
    ] {
        let doc = document(metrics, values);
        let names: Vec<String> = (0..metrics).map(|i| format!("metric_{i}")).collect();
        let mut out = Vec::with_capacity(16 * 1024);
        group.bench_function(format!("floor: serde_json::to_writer, {name}"), |b| {
            b.iter(|| floor(&mut out, black_box(&doc)))
        });
        group.bench_function(
            format!("peer: victors-lambdas-metrics fill + write_to, {name}"),
            |b| {
                b.iter(|| {
                    for metric in &names {
                        for _ in 0..values {
                            let _ = peer.try_add_metric(
                                metric.as_str(),
                                1.0,
                                victors_lambdas_metrics::MetricUnit::Count,
                            );
                        }
                    }
                    let _ = peer.write_to(&mut std::io::sink());
                });
            },
        );
        group.bench_function(format!("powertools-metrics fill + flush, {name}"), |b| {
            invocation.clone().sync_scope(|| {
                b.iter(|| {
                    fill(&m, &names, values);
                    let _ = m.flush();
                });
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
