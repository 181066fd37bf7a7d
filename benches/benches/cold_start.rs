//! Cold start: time from process start to the first response, through the local Runtime API.
//!
//! Compares the bare `lambda_runtime` echo handler (the floor) with the same handler wrapped in
//! `powertools_core::InvocationLayer`, with the logger (one line to a discarded stdout), and with
//! the metrics client (the ColdStart blob and one metric), and with all five utilities composed as
//! in the quickstart (logger, metrics, tracer, idempotency and parameters in memory), the last both
//! with X-Ray over UDP and with its spans over OTLP (`OTEL_EXPORTER_OTLP_ENDPOINT` set to a local
//! OTLP/HTTP receiver, so the first response includes the first export). Run with
//! `cargo bench -p powertools-benches --bench cold_start`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_testing::otlp::OtlpReceiver;
use powertools_testing::{InvocationRequest, LocalFunction, Output};

/// Each variant: its name, its binary, and whether its spans go over OTLP.
const VARIANTS: [(&str, &str, bool); 6] = [
    (
        "bare lambda_runtime",
        env!("CARGO_BIN_EXE_bare-handler"),
        false,
    ),
    (
        "powertools-core InvocationLayer",
        env!("CARGO_BIN_EXE_core-handler"),
        false,
    ),
    (
        "powertools-logger (one line)",
        env!("CARGO_BIN_EXE_logger-handler"),
        false,
    ),
    (
        "powertools-metrics (one metric)",
        env!("CARGO_BIN_EXE_metrics-handler"),
        false,
    ),
    (
        "all five utilities",
        env!("CARGO_BIN_EXE_all-utilities-handler"),
        false,
    ),
    (
        "all five utilities, spans over OTLP (otel)",
        env!("CARGO_BIN_EXE_all-utilities-handler"),
        true,
    ),
];

/// Starts the function and waits for its first answer; returns the elapsed time.
async fn first_response(binary: &str, otlp: Option<&str>) -> Duration {
    let started = Instant::now();
    let mut builder = LocalFunction::builder(binary)
        .stdout(Output::Discard)
        .stderr(Output::Discard);
    if let Some(endpoint) = otlp {
        builder = builder.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let function = builder.start().await;
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

/// The function's peak resident set after its first response (Lambda's "Max Memory Used"),
/// in bytes; `None` where the system does not tell.
async fn peak_memory(binary: &str, otlp: Option<&str>) -> Option<u64> {
    let mut builder = LocalFunction::builder(binary)
        .stdout(Output::Discard)
        .stderr(Output::Discard);
    if let Some(endpoint) = otlp {
        builder = builder.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let function = builder.start().await.ok()?;
    let request = InvocationRequest::raw(&b"{\"ping\":1}"[..]).sampled_trace();
    let answered = function.invoke(request).await.is_ok();
    let peak = function.max_memory_used();
    function.stop().await;
    answered.then_some(peak).flatten()
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
    if let Ok(receiver) = OtlpReceiver::start() {
        for (name, binary, otlp) in VARIANTS {
            let endpoint = otlp.then(|| receiver.base_url().to_owned());
            let peak = runtime.block_on(peak_memory(binary, endpoint.as_deref()));
            match peak {
                Some(bytes) => eprintln!(
                    "peak memory after the first response, {name}: {:.2} MiB",
                    bytes as f64 / (1024.0 * 1024.0)
                ),
                None => eprintln!("peak memory, {name}: not known on this system"),
            }
        }
    }
    let mut group = c.benchmark_group("cold_start_to_first_response");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    let receiver = match OtlpReceiver::start() {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("no OTLP receiver: {e}");
            return;
        }
    };
    for (name, binary, otlp) in VARIANTS {
        let endpoint = otlp.then(|| receiver.base_url().to_owned());
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let endpoint = endpoint.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total =
                            total.saturating_add(first_response(binary, endpoint.as_deref()).await);
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
