//! Idempotency costs: extracting the key (`powertools_json(body)`) from an API Gateway event and
//! hashing it (Python-compatible and TypeScript-compatible), against the floor of hashing the
//! already-selected value; and a whole replay from the in-memory store.
//!
//! Run with `cargo bench -p powertools-benches --bench idempotency`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_idempotency::{HashMode, Idempotency, InMemoryStore, python_dumps};
use serde_json::{Value, json};

fn event() -> Value {
    json!({
        "resource": "/orders", "path": "/orders", "httpMethod": "POST",
        "headers": {"content-type": "application/json", "x-amzn-trace-id": "Root=1-6740a1b2-3f0c8e9d2a1b4c5d6e7f8091"},
        "requestContext": {"requestId": "7f8e3c1a-1b2c-4d5e-8f90-a1b2c3d4e5f6", "stage": "prod", "accountId": "123456789012"},
        "body": "{\"customer_id\":\"c-42\",\"sku\":\"BOOK-1984\",\"quantity\":2,\"note\":\"caf\u{e9}\",\"price\":12.5}",
        "isBase64Encoded": false
    })
}

fn bench(c: &mut Criterion) {
    let event = event();
    let idempotency = Idempotency::builder(InMemoryStore::new())
        .env(powertools_core::Env::from_lookup(|_| None))
        .event_key_jmespath("powertools_json(body)")
        .build()
        .unwrap_or_else(|e| unreachable!("{e}"));
    let selected: Value =
        serde_json::from_str(event["body"].as_str().unwrap_or("{}")).unwrap_or_default();

    let per_call = |run: &dyn Fn()| {
        let info = allocation_counter::measure(|| {
            for _ in 0..1_000 {
                run();
            }
        });
        info.count_total as f64 / 1_000.0
    };
    let body = event["body"].as_str().unwrap_or("{}").to_owned();
    eprintln!(
        "allocations per call: key_for {:.1}, parse the body {:.1}, floor {:.1}",
        per_call(&|| {
            black_box(idempotency.key_for(black_box(&event)).ok());
        }),
        per_call(&|| {
            black_box(serde_json::from_str::<Value>(black_box(&body)).ok());
        }),
        per_call(&|| {
            black_box(serde_json::to_string(black_box(&selected)).ok());
        }),
    );

    let mut group = c.benchmark_group("idempotency_key");
    group.bench_function("key_for: powertools_json(body) + MD5 (Python form)", |b| {
        b.iter(|| black_box(idempotency.key_for(black_box(&event))));
    });
    group.bench_function("hash only: MD5 of json.dumps form (selected value)", |b| {
        b.iter(|| black_box(HashMode::Python.hash(black_box(&selected))));
    });
    group.bench_function("hash only: TypeScript form (selected value)", |b| {
        b.iter(|| black_box(HashMode::TypeScript.hash(black_box(&selected))));
    });
    group.bench_function("part of key_for: serde_json::from_str of the body", |b| {
        b.iter(|| black_box(serde_json::from_str::<Value>(black_box(&body))));
    });
    let dumped = python_dumps(&selected);
    group.bench_function("part of key_for: MD5 of the json.dumps text", |b| {
        use md5::Digest as _;
        b.iter(|| black_box(md5::Md5::digest(black_box(dumped.as_bytes()))));
    });
    group.bench_function(
        "peer: victors-lambdas-idempotency key_from_jmespath powertools_json(body) + SHA-256",
        |b| {
            b.iter(|| {
                black_box(victors_lambdas_idempotency::key_from_jmespath(
                    black_box(&event),
                    "powertools_json(body)",
                ))
            });
        },
    );
    group.bench_function("floor: serde_json::to_string of the selected value", |b| {
        b.iter(|| black_box(serde_json::to_string(black_box(&selected))));
    });
    group.bench_function("python_dumps of the selected value", |b| {
        b.iter(|| black_box(python_dumps(black_box(&selected))));
    });
    group.finish();

    let runtime = tokio::runtime::Builder::new_current_thread().build();
    if let Ok(runtime) = runtime {
        runtime.block_on(async {
            let _ = idempotency
                .run(&event, || async {
                    Ok::<_, String>(json!({"order_id": "o-1"}))
                })
                .await;
        });
        // The peer's in-memory store is synchronous, and it takes the key from the caller.
        let mut peer = victors_lambdas_idempotency::Idempotency::with_config(
            victors_lambdas_idempotency::InMemoryIdempotencyStore::new(),
            victors_lambdas_idempotency::IdempotencyConfig::new(false).without_payload_validation(),
        );
        let peer_key =
            || victors_lambdas_idempotency::key_from_jmespath(&event, "powertools_json(body)");
        if let Ok(key) = peer_key() {
            let _ = peer.execute_json_with_key(key, &event, || {
                Ok::<Value, String>(json!({"order_id": "o-1"}))
            });
        }
        c.bench_function(
            "idempotency_replay/peer: victors-lambdas-idempotency, key + in-memory store (sync)",
            |b| {
                b.iter(|| {
                    let Ok(key) = peer_key() else { return };
                    black_box(
                        peer.execute_json_with_key(key, black_box(&event), || {
                            Ok::<Value, String>(Value::Null)
                        })
                        .ok(),
                    );
                });
            },
        );
        c.bench_function("idempotency_replay/in-memory store, uncached", |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(
                    idempotency
                        .run(&event, || async { Ok::<_, String>(json!(null)) })
                        .await,
                )
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
