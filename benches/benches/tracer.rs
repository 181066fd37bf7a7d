//! Cost of a traced span (open, record 2 fields, close, serialize, send one UDP datagram to a
//! local socket) vs the same span untraced (a name without `## `), and vs a `## ` span when
//! tracing is off (not sampled; disabled).
//!
//! Then the same work over OTLP (feature `otel`): a `## ` span kept for the invocation's export,
//! and whole invocations (the handler and three `## ` spans) exported over OTLP/HTTP to a local
//! collector vs sent as UDP datagrams; and building the tracer (INIT) on each path.
//!
//! Run with `cargo bench -p powertools-benches --bench tracer`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};

use lambda_runtime::{LambdaEvent, service_fn};
use tower::{Layer, ServiceExt};

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

/// The peers' closest to one `## ` span sent to the daemon: each builds the same subsegment
/// (name, one annotation, one metadata value) by hand and sends it (neither has a `tracing`
/// layer).
fn peer_spans(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    daemon: &std::net::SocketAddr,
) {
    use victors_lambdas_tracer::{
        Tracer as PeerTracer, TracerConfig, XrayDaemonClient, XrayDaemonConfig,
    };
    use xray_lite::{Annotation, Client as _, DaemonClient, SegmentId, Subsegment, TraceId};

    let peer_tracer = PeerTracer::with_config(TracerConfig::new("orders-api"));
    let peer_daemon = XrayDaemonClient::new(XrayDaemonConfig::new(daemon.to_string()));
    let peer_context = peer_tracer.context_from_xray_header(
        "save_order",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1",
    );
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    group.bench_function(
        "peer: victors-lambdas-tracer segment + send_subsegment (a socket bound per send)",
        |b| {
            let mut n = 0_u64;
            b.iter(|| {
                let start = epoch();
                let segment = peer_tracer
                    .segment_with_context(peer_context.clone())
                    .with_annotation("order_id", "o-1001")
                    .with_metadata("items", 2_u64);
                n += 1;
                black_box(peer_daemon.send_subsegment(
                    &segment,
                    format!("{n:016x}"),
                    start,
                    epoch(),
                ))
            });
        },
    );
    let Ok(client) = DaemonClient::new(*daemon) else {
        eprintln!("xray-lite: no daemon client");
        return;
    };
    let trace_id = TraceId::Rendered("1-5759e988-bd862e3fe1be46a994272793".to_owned());
    let parent_id = SegmentId::Rendered("557abcec3ee5a047".to_owned());
    group.bench_function(
        "peer: xray-lite Subsegment begin + end + DaemonClient::send (one datagram)",
        |b| {
            b.iter(|| {
                let mut sub =
                    Subsegment::begin(trace_id.clone(), Some(parent_id.clone()), "save_order");
                sub.annotations = Some(std::collections::HashMap::from([(
                    "order_id".to_owned(),
                    Annotation::String("o-1001".to_owned()),
                )]));
                sub.metadata = Some(std::collections::HashMap::from([(
                    "items".to_owned(),
                    serde_json::json!(2),
                )]));
                sub.end();
                black_box(client.send(&sub))
            });
        },
    );
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
    peer_spans(&mut group, &daemon.1);
    group.finish();
    drop(daemon);
}

/// A collector answering every OTLP request with 200 at once (the request is read, not
/// decoded), keeping connections alive as the ADOT collector does, each on a thread of its
/// own. Returns the traces URL.
fn collector() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1/traces", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || serve(stream));
        }
    });
    Ok(url)
}

/// Answers the requests of one connection until the client closes it.
fn serve(mut stream: std::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        // Head, then the body by its length.
        let (end, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + length);
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn otlp_tracer(endpoint: &str) -> Result<Tracer, powertools_core::ConfigError> {
    Tracer::builder()
        .env(Env::from_pairs([(
            "AWS_LAMBDA_FUNCTION_NAME",
            "orders-api",
        )]))
        .otlp_endpoint(endpoint)
        .build()
}

/// A handler with three `## ` spans.
async fn three_spans(_event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, String> {
    for _ in 0..3 {
        traced_span();
    }
    Ok(serde_json::Value::Null)
}

fn sampled_event() -> LambdaEvent<serde_json::Value> {
    let mut event = powertools_testing::test_event("bench", serde_json::Value::Null);
    event.context.xray_trace_id = Some(
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1".to_owned(),
    );
    event
}

fn bench_otlp(c: &mut Criterion) {
    let (Ok(url), Ok(daemon)) = (collector(), UdpSocket::bind("127.0.0.1:0")) else {
        eprintln!("no local collector or UDP socket");
        return;
    };
    let address = daemon
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (Ok(otlp), Ok(udp)) = (otlp_tracer(&url), tracer(&address, false)) else {
        eprintln!("the tracer configuration was refused");
        return;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };

    let mut group = c.benchmark_group("otlp");
    // One span kept for the export (every 512th call also exports the batch kept so far).
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(otlp.tracing_layer()));
    group.bench_function(
        "## span, sampled, OTLP: kept for the invocation's export",
        |b| {
            invocation(true).sync_scope(|| {
                tracing::dispatcher::with_default(&dispatch, || b.iter(traced_span))
            });
        },
    );
    for (name, tracer) in [
        (
            "invocation (handler + 3 ## spans), OTLP/HTTP export to a local collector",
            &otlp,
        ),
        (
            "invocation (handler + 3 ## spans), 4 UDP datagrams to the daemon",
            &udp,
        ),
    ] {
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracer.tracing_layer()));
        group.bench_function(name, |b| {
            tracing::dispatcher::with_default(&dispatch, || {
                b.to_async(&runtime).iter(|| async {
                    tracer
                        .layer()
                        .layer(service_fn(three_spans))
                        .oneshot(sampled_event())
                        .await
                })
            });
        });
    }
    // The floor of an export: one request of the same size and its answer on a kept-alive
    // loopback connection to the same collector, nothing built or encoded.
    if let Ok(mut stream) = std::net::TcpStream::connect(
        url.trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default(),
    ) {
        let _ = stream.set_nodelay(true);
        let body = vec![b'x'; 1400];
        let mut request = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        group.bench_function(
            "floor: one HTTP round trip of the same size, kept-alive loopback",
            |b| {
                b.iter(|| {
                    let mut answer = [0u8; 256];
                    let mut read = 0;
                    if stream.write_all(&request).is_err() {
                        return;
                    }
                    while !answer[..read].ends_with(b"\r\n\r\n") {
                        match stream.read(&mut answer[read..]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                });
            },
        );
    }
    group.bench_function("INIT: build the tracer, OTLP exporter", |b| {
        b.iter(|| otlp_tracer(&url));
    });
    group.bench_function("INIT: build the tracer, UDP sink", |b| {
        b.iter(|| tracer(&address, false));
    });
    group.finish();
    drop(daemon);
}

criterion_group!(benches, bench, bench_otlp);
criterion_main!(benches);
