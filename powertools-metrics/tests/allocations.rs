//! The `metrics` macro path allocates nothing once a key's handle exists (counted on this
//! thread by a counting global allocator).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::metrics;
use metrics::{Key, Label, Level, Metadata, Recorder};
use powertools_core::Invocation;
use powertools_metrics::MetricsRecorder;

const METADATA: Metadata<'static> = Metadata::new("orders", Level::INFO, None);

#[test]
fn counter_macro_calls_allocate_nothing_after_the_first_call() {
    let (m, _captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    Invocation::builder("r").build().sync_scope(|| {
        metrics::with_local_recorder(&recorder, || {
            let calls = || {
                metrics::counter!("orders_accepted").increment(1);
                metrics::counter!("orders_accepted", "route" => "/orders").increment(1);
                metrics::counter!("bytes_read").absolute(10);
            };
            calls();
            let info = allocation_counter::measure(|| {
                for _ in 0..100 {
                    calls();
                }
            });
            assert_eq!(info.count_total, 0, "{info:?}");
        });
    });
}

/// A key with owned labels (built at run time) is looked up by reference: registering it
/// again clones nothing.
#[test]
fn registering_a_known_key_with_owned_labels_allocates_nothing() {
    let (m, _captured) = metrics(&[]);
    let recorder = MetricsRecorder::new(m.clone());
    let tenant = || vec![Label::new("tenant", format!("t{}", 7))];
    let counter = Key::from_parts("orders_accepted", tenant());
    let gauge = Key::from_parts("queue_depth", tenant());
    Invocation::builder("r").build().sync_scope(|| {
        recorder.register_counter(&counter, &METADATA).increment(1);
        recorder.register_gauge(&gauge, &METADATA).set(1.0);
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                recorder.register_counter(&counter, &METADATA).increment(1);
                recorder.register_gauge(&gauge, &METADATA).set(1.0);
            }
        });
        assert_eq!(info.count_total, 0, "{info:?}");
    });
}
