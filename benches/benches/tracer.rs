//! Cost of a traced span (open, record 2 fields, close, serialize, send one UDP datagram to a
//! local socket) vs the same span untraced (a name without `## `), and vs a `## ` span when
//! tracing is off (not sampled; disabled).
//!
//! Run with `cargo bench -p powertools-benches --bench tracer`.

use std::net::UdpSocket;

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_core::{Env, Invocation};
use powertools_tracer::Tracer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

fn tracer(daemon: &str, disabled: bool) -> Result<Tracer, powertools_core::ConfigError> {
    Tracer::builder()
        .env(Env::from_pairs([
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
            ("AWS_XRAY_DAEMON_ADDRESS", daemon),
            (
                "POWERTOOLS_TRACE_DISABLED",
                if disabled { "true" } else { "false" },
            ),
        ]))
        .build()
}

fn invocation(sampled: bool) -> Invocation {
    let flag = if sampled { 1 } else { 0 };
    Invocation::builder("bench")
        .trace_header(format!(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled={flag}"
        ))
        .build()
}

fn traced_span() {
    let span = tracing::info_span!(
        "## save_order",
        annotation.order_id = "o-1001",
        items = 2_u64
    );
    let _entered = span.enter();
}

fn untraced_span() {
    let span = tracing::info_span!("save_order", annotation.order_id = "o-1001", items = 2_u64);
    let _entered = span.enter();
}

fn bench(c: &mut Criterion) {
    // A real UDP socket standing in for the daemon (never read: the kernel drops the overflow).
    let daemon = match UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr().map(|a| (s, a))) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("no UDP socket: {e}");
            return;
        }
    };
    let address = daemon.1.to_string();
    let (Ok(on), Ok(off)) = (tracer(&address, false), tracer(&address, true)) else {
        eprintln!("the tracer configuration was refused");
        return;
    };
    let dispatch_on = Dispatch::new(tracing_subscriber::registry().with(on.tracing_layer()));
    let dispatch_off = Dispatch::new(tracing_subscriber::registry().with(off.tracing_layer()));

    let mut group = c.benchmark_group("span");
    group.bench_function(
        "## span, sampled: subsegment serialized and sent over UDP",
        |b| {
            invocation(true).sync_scope(|| {
                tracing::dispatcher::with_default(&dispatch_on, || b.iter(traced_span))
            });
        },
    );
    group.bench_function("untraced span (no ## prefix), same subscriber", |b| {
        invocation(true).sync_scope(|| {
            tracing::dispatcher::with_default(&dispatch_on, || b.iter(untraced_span))
        });
    });
    group.bench_function("## span, Sampled=0", |b| {
        invocation(false)
            .sync_scope(|| tracing::dispatcher::with_default(&dispatch_on, || b.iter(traced_span)));
    });
    group.bench_function("## span, tracing disabled", |b| {
        invocation(true).sync_scope(|| {
            tracing::dispatcher::with_default(&dispatch_off, || b.iter(traced_span))
        });
    });
    group.finish();
    drop(daemon);
}

criterion_group!(benches, bench);
criterion_main!(benches);
