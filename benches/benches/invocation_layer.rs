//! Per-invocation cost of the invocation scope, in process (no runtime loop, no I/O).
//!
//! - `bare service_fn`: the floor, an echo handler called directly.
//! - `InvocationLayer`: the same handler behind the layer (take the cold-start flag, parse the
//!   trace header, open the task-local scope).
//! - `Invocation::current` and `with_current`: what each utility pays to find the invocation.
//!
//! Run with `cargo bench -p powertools-benches --bench invocation_layer`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_runtime::{Context, Error, LambdaEvent, service_fn};
use powertools_core::{FunctionConfig, Invocation, InvocationLayer};
use serde_json::{Value, json};
use tower::{Layer, Service};

fn event() -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678".to_owned();
    context.deadline = 4_102_444_800_000;
    context.invoked_function_arn =
        "arn:aws:lambda:eu-west-1:123456789012:function:orders".to_owned();
    context.xray_trace_id = Some(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1".to_owned(),
    );
    LambdaEvent::new(json!({"order": 1}), context)
}

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn invocation_layer(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("per_invocation");
    let mut bare = service_fn(echo);
    group.bench_function("bare service_fn", |b| {
        b.to_async(&runtime).iter(|| {
            let call = bare.call(event());
            async move { black_box(call.await) }
        });
    });
    let mut layered = InvocationLayer::new(FunctionConfig::default()).layer(service_fn(echo));
    group.bench_function("InvocationLayer", |b| {
        b.to_async(&runtime).iter(|| {
            let call = layered.call(event());
            async move { black_box(call.await) }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("scope_lookup");
    let invocation = Invocation::builder("req").build();
    group.bench_function("Invocation::current (clone)", |b| {
        b.iter(|| {
            invocation
                .clone()
                .sync_scope(|| black_box(Invocation::current()))
        });
    });
    group.bench_function("Invocation::with_current (borrow)", |b| {
        b.iter(|| {
            invocation
                .clone()
                .sync_scope(|| black_box(Invocation::with_current(|i| i.is_cold_start())))
        });
    });
    group.bench_function("sync_scope alone (floor)", |b| {
        b.iter(|| invocation.clone().sync_scope(|| black_box(1)));
    });
    group.finish();
}

criterion_group!(benches, invocation_layer);
criterion_main!(benches);
