//! Cost of one log line: this logger vs `tracing_subscriber::fmt().json()` vs the floor.
//!
//! Every variant writes to `std::io::sink()`. The line has 5 context keys (service, cold start,
//! function name, memory, request id) and 3 event fields:
//! - `powertools-logger`: the context comes from the invocation scope, as in a handler;
//! - `fmt().json()`: the context is the fields of an entered span, the usual way with the stock
//!   formatter (which nests them under `"span"` rather than writing them as top-level keys);
//! - floor: a `serde_json::Map` of the same 12 keys built and written with `to_writer`, what a
//!   user would write by hand; and the bare `to_writer` of that map prebuilt (serialization
//!   alone, no field capture, no clock).
//!
//! Also: a DEBUG line filtered out at INFO, and allocations per line (printed once).
//! Run with `cargo bench -p powertools-benches --bench logger`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_core::{Env, FunctionConfig, Invocation};
use powertools_logger::Logger;
use serde_json::{Map, Value, json};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

fn powertools() -> (Dispatch, Invocation) {
    let env = Env::from_pairs([
        ("POWERTOOLS_SERVICE_NAME", "orders"),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
    ]);
    let logger = Logger::builder()
        .env(env.clone())
        .writer(powertools_core::LineWriter::new(std::io::sink))
        .build()
        .unwrap_or_else(|_| Logger::from_env());
    let invocation = Invocation::builder("c6af9ac6-7b61-11e6-9a41-93e812345678")
        .cold_start(true)
        .config(std::sync::Arc::new(FunctionConfig::from_source(&env)))
        .build();
    (
        Dispatch::new(tracing_subscriber::registry().with(logger.tracing_layer())),
        invocation,
    )
}

fn stock_json() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::sink)
            .finish(),
    )
}

fn log_line() {
    tracing::info!(
        order_id = "o-1001",
        quantity = 2_u64,
        amount = 12.5_f64,
        "order accepted"
    );
}

fn floor_map() -> Value {
    let mut map = Map::with_capacity(12);
    map.insert("level".into(), json!("INFO"));
    map.insert("location".into(), json!("orders::handler:42"));
    map.insert("message".into(), json!("order accepted"));
    map.insert("timestamp".into(), json!("2026-11-21T13:42:27.123Z"));
    map.insert("service".into(), json!("orders"));
    map.insert("cold_start".into(), json!(true));
    map.insert("function_name".into(), json!("orders-api"));
    map.insert("function_memory_size".into(), json!(512));
    map.insert(
        "function_request_id".into(),
        json!("c6af9ac6-7b61-11e6-9a41-93e812345678"),
    );
    map.insert("order_id".into(), json!("o-1001"));
    map.insert("quantity".into(), json!(2));
    map.insert("amount".into(), json!(12.5));
    Value::Object(map)
}

/// Writes `map` as one line to the sink.
fn write_line(out: &mut Vec<u8>, map: &Value) {
    out.clear();
    let _ = serde_json::to_writer(&mut *out, map);
    out.push(b'\n');
    let _ = std::io::Write::write_all(&mut std::io::sink(), out);
}

/// Builds the map and writes it: what a hand-written JSON log line costs.
fn floor_line(out: &mut Vec<u8>) {
    write_line(out, &floor_map());
}

fn allocations_per_line(run: impl Fn()) -> f64 {
    const N: u64 = 1_000;
    run(); // warm thread-locals and callsite caches
    let info = allocation_counter::measure(|| {
        for _ in 0..N {
            run();
        }
    });
    info.count_total as f64 / N as f64
}

fn logger(c: &mut Criterion) {
    let (ours, invocation) = powertools();
    let stock = stock_json();
    let stock_span = || {
        tracing::info_span!(
            "invocation",
            service = "orders",
            cold_start = true,
            function_name = "orders-api",
            function_memory_size = 512_u64,
            function_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
        )
    };

    let run_ours = || {
        invocation
            .clone()
            .sync_scope(|| tracing::dispatcher::with_default(&ours, log_line))
    };
    let run_stock = || {
        tracing::dispatcher::with_default(&stock, || {
            let span = stock_span();
            let _entered = span.enter();
            log_line();
        })
    };
    // The other Rust Powertools port: the same context and fields, its own API.
    let mut peer = victors_lambdas_logger::Logger::with_config(
        victors_lambdas_logger::LoggerConfig::new("orders"),
    );
    peer.append_lambda_context(
        &victors_lambdas_logger::LambdaContextFields::new(
            "c6af9ac6-7b61-11e6-9a41-93e812345678",
            "orders-api",
        )
        .with_function_memory_size(512)
        .with_cold_start(true),
    );
    let run_peer = || {
        let _ = peer
            .info("order accepted")
            .field("order_id", "o-1001")
            .field("quantity", 2_u64)
            .field("amount", 12.5_f64)
            .write_to(&mut std::io::sink());
    };
    let mut floor_buf = Vec::with_capacity(512);
    eprintln!(
        "allocations per line: powertools-logger {:.1}, fmt().json() {:.1}, victors-lambdas-logger {:.1}, floor {:.1}",
        allocations_per_line(run_ours),
        allocations_per_line(run_stock),
        allocations_per_line(run_peer),
        allocations_per_line(|| floor_line(&mut Vec::with_capacity(512))),
    );

    let mut group = c.benchmark_group("log_line");
    group.bench_function("powertools-logger", |b| {
        invocation
            .clone()
            .sync_scope(|| tracing::dispatcher::with_default(&ours, || b.iter(log_line)));
    });
    group.bench_function("fmt().json()", |b| {
        tracing::dispatcher::with_default(&stock, || {
            let span = stock_span();
            let _entered = span.enter();
            b.iter(log_line);
        });
    });
    group.bench_function("peer: victors-lambdas-logger", |b| b.iter(run_peer));
    group.bench_function("floor: build map + serde_json::to_writer", |b| {
        b.iter(|| floor_line(black_box(&mut floor_buf)));
    });
    let prebuilt = floor_map();
    group.bench_function("floor: serde_json::to_writer(prebuilt map)", |b| {
        b.iter(|| write_line(black_box(&mut floor_buf), black_box(&prebuilt)));
    });
    group.bench_function("powertools-logger, DEBUG filtered out", |b| {
        invocation.clone().sync_scope(|| {
            tracing::dispatcher::with_default(&ours, || {
                b.iter(|| tracing::debug!(order_id = "o-1001", quantity = 2_u64, "not written"));
            });
        });
    });
    group.finish();
}

criterion_group!(benches, logger);
criterion_main!(benches);
