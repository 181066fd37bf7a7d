//! Cold start: time from process start to the first response, through the local Runtime API.
//!
//! Compares the bare `lambda_runtime` echo handler (the floor) with the same handler wrapped in
//! `powertools_core::InvocationLayer`, with the logger (one line to a discarded stdout), and with
//! the metrics client (the ColdStart blob and one metric), and with all five utilities composed as
//! in the quickstart (logger, metrics, tracer, idempotency and parameters in memory). Later utilities add their own variants here. Run with
//! `cargo bench -p powertools-benches --bench cold_start`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_testing::{InvocationRequest, LocalFunction, Output};

const VARIANTS: [(&str, &str); 5] = [
    ("bare lambda_runtime", env!("CARGO_BIN_EXE_bare-handler")),
    (
        "powertools-core InvocationLayer",
        env!("CARGO_BIN_EXE_core-handler"),
    ),
    (
        "powertools-logger (one line)",
        env!("CARGO_BIN_EXE_logger-handler"),
    ),
    (
        "powertools-metrics (one metric)",
        env!("CARGO_BIN_EXE_metrics-handler"),
    ),
    (
        "all five utilities",
        env!("CARGO_BIN_EXE_all-utilities-handler"),
    ),
];

/// Starts the function and waits for its first answer; returns the elapsed time.
async fn first_response(binary: &str) -> Duration {
    let started = Instant::now();
    let function = LocalFunction::builder(binary)
        .stdout(Output::Discard)
        .stderr(Output::Discard)
        .start()
        .await;
    match function {
        Ok(function) => {
            let request = InvocationRequest::raw(&b"{\"ping\":1}"[..]).sampled_trace();
            let answered = function.invoke(request).await;
            let elapsed = started.elapsed();
            function.stop().await;
            match answered {
                Ok(outcome) if outcome.error().is_none() => elapsed,
                other => {
                    eprintln!("{binary}: first invocation failed: {other:?}");
                    Duration::MAX
                }
            }
        }
        Err(error) => {
            eprintln!("{binary}: {error}");
            Duration::MAX
        }
    }
}

fn cold_start(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("cold_start_to_first_response");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    for (name, binary) in VARIANTS {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total = total.saturating_add(first_response(binary).await);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
