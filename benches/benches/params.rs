//! Parameter cache costs: a hit (text and JSON into a struct) vs the floor of a bare
//! `moka::future::Cache::get` of the same entry (and that plus the JSON parse); a miss through
//! the in-memory provider.
//!
//! Run with `cargo bench -p powertools-benches --bench params`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use powertools_params::{GetOptions, InMemoryProvider, Parameters};

#[derive(serde::Deserialize)]
struct Flags {
    #[allow(dead_code)]
    express_shipping: bool,
}

const FLAGS: &str = r#"{"express_shipping": true}"#;

fn bench(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let provider = InMemoryProvider::new();
    provider.set("/orders/flag", "on");
    provider.set("/orders/flags.json", FLAGS);
    let parameters = Parameters::builder(provider)
        .env(powertools_core::Env::from_lookup(|_| None))
        .max_age(Duration::from_secs(3_600))
        .build();
    let Ok(parameters) = parameters else {
        eprintln!("the parameters configuration was refused");
        return;
    };
    let floor: moka::future::Cache<String, Arc<String>> =
        moka::future::Cache::builder().max_capacity(1_024).build();
    // The same cache with a time to live per value and least-recently-used eviction, as
    // `Parameters` keeps its values (a read may ask for a longer max age than the client's).
    struct PerValue;
    impl moka::Expiry<String, Arc<String>> for PerValue {
        fn expire_after_create(
            &self,
            _name: &String,
            _value: &Arc<String>,
            _created_at: std::time::Instant,
        ) -> Option<Duration> {
            Some(Duration::from_secs(3_600))
        }
    }
    let per_value: moka::future::Cache<String, Arc<String>> = moka::future::Cache::builder()
        .max_capacity(1_024)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .expire_after(PerValue)
        .build();
    // What a user would write for parameters: values expire after the max age.
    let with_ttl: moka::future::Cache<String, Arc<String>> = moka::future::Cache::builder()
        .max_capacity(1_024)
        .time_to_live(Duration::from_secs(3_600))
        .build();
    runtime.block_on(async {
        let _ = parameters.get("/orders/flag").await;
        let _ = parameters.get("/orders/flags.json").await;
        floor
            .insert("/orders/flag".to_owned(), Arc::new("on".to_owned()))
            .await;
        floor
            .insert("/orders/flags.json".to_owned(), Arc::new(FLAGS.to_owned()))
            .await;
        with_ttl
            .insert("/orders/flag".to_owned(), Arc::new("on".to_owned()))
            .await;
        per_value
            .insert("/orders/flag".to_owned(), Arc::new("on".to_owned()))
            .await;
    });

    let peer = victors_lambdas_parameters::AsyncParameters::with_cache_policy(
        victors_lambdas_parameters::InMemoryParameterProvider::new()
            .with_parameter("/orders/flag", "on")
            .with_parameter("/orders/flags.json", FLAGS),
        victors_lambdas_parameters::CachePolicy::ttl(Duration::from_secs(3_600)),
    );
    runtime.block_on(async {
        let _ = peer.get("/orders/flag").await;
        let _ = peer.get("/orders/flags.json").await;
    });

    let mut group = c.benchmark_group("parameter_hit");
    group.bench_function(
        "peer: victors-lambdas-parameters AsyncParameters::get (text)",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(peer.get(black_box("/orders/flag")).await) });
        },
    );
    group.bench_function(
        "peer: victors-lambdas-parameters AsyncParameters::get_json (struct)",
        |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(
                    peer.get_json::<Flags>(black_box("/orders/flags.json"))
                        .await,
                )
            });
        },
    );
    group.bench_function("Parameters::get (text)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(parameters.get(black_box("/orders/flag")).await) });
    });
    group.bench_function("Parameters::get_shared (Arc<str>)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(parameters.get_shared(black_box("/orders/flag")).await) });
    });
    group.bench_function("floor: moka get", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(floor.get(black_box("/orders/flag")).await) });
    });
    group.bench_function("floor: moka get, values with a time to live", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(with_ttl.get(black_box("/orders/flag")).await) });
    });
    group.bench_function("floor: moka get, a time to live per value, LRU", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(per_value.get(black_box("/orders/flag")).await) });
    });
    group.bench_function("Parameters::get_json (struct)", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                parameters
                    .get_json::<Flags>(black_box("/orders/flags.json"))
                    .await,
            )
        });
    });
    group.bench_function("floor: moka get + serde_json::from_str", |b| {
        b.to_async(&runtime).iter(|| async {
            let value = floor.get(black_box("/orders/flags.json")).await;
            black_box(value.map(|v| serde_json::from_str::<Flags>(&v)))
        });
    });
    group.finish();

    // Eight threads hitting one key at once: the cache against a `Mutex<HashMap>` (what a
    // hand-rolled cache would be). Each thread runs its own current-thread runtime.
    let locked: std::sync::Mutex<std::collections::HashMap<String, Arc<String>>> =
        std::sync::Mutex::new(std::collections::HashMap::from([(
            "/orders/flag".to_owned(),
            Arc::new("on".to_owned()),
        )]));
    let mut group = c.benchmark_group("parameter_hit_8_threads");
    group.bench_function("Parameters::get (text), per hit", |b| {
        b.iter_custom(|iters| {
            on_eight_threads(iters, || async {
                black_box(parameters.get(black_box("/orders/flag")).await.ok());
            })
        });
    });
    group.bench_function("Parameters::get_shared (Arc<str>), per hit", |b| {
        b.iter_custom(|iters| {
            on_eight_threads(iters, || async {
                black_box(parameters.get_shared(black_box("/orders/flag")).await.ok());
            })
        });
    });
    group.bench_function(
        "peer: victors-lambdas-parameters get (text), per hit",
        |b| {
            b.iter_custom(|iters| {
                on_eight_threads(iters, || async {
                    black_box(peer.get(black_box("/orders/flag")).await.ok());
                })
            });
        },
    );
    group.bench_function("moka get, per hit", |b| {
        b.iter_custom(|iters| {
            on_eight_threads(iters, || async {
                black_box(floor.get(black_box("/orders/flag")).await);
            })
        });
    });
    group.bench_function("Mutex<HashMap> get + clone, per hit", |b| {
        b.iter_custom(|iters| {
            on_eight_threads(iters, || async {
                let value = locked
                    .lock()
                    .ok()
                    .and_then(|map| map.get(black_box("/orders/flag")).cloned());
                black_box(value.map(|v| v.as_str().to_owned()));
            })
        });
    });
    group.finish();

    c.bench_function("parameter_miss/in-memory provider (force fetch)", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                parameters
                    .get_with("/orders/flag", GetOptions::new().force_fetch())
                    .await,
            )
        });
    });
}

/// Runs `hit` `iters` times in all, split over eight threads at once; the wall time.
fn on_eight_threads<F, Fut>(iters: u64, hit: F) -> std::time::Duration
where
    F: Fn() -> Fut + Sync,
    Fut: std::future::Future<Output = ()>,
{
    const THREADS: u64 = 8;
    let barrier = std::sync::Barrier::new(THREADS as usize + 1);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
                    barrier.wait();
                    return;
                };
                barrier.wait();
                runtime.block_on(async {
                    for _ in 0..iters.div_ceil(THREADS) {
                        hit().await;
                    }
                });
            });
        }
        barrier.wait();
        let started = std::time::Instant::now();
        // The scope waits for every thread before it returns.
        started
    })
    .elapsed()
}

criterion_group!(benches, bench);
criterion_main!(benches);
