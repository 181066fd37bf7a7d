//! The span layer's interest: `## ` spans (any level) and ERROR events, nothing else, so that
//! beside a layer with its own level filter (the logger's) the TRACE and DEBUG spans and events of
//! other crates stay disabled, while that layer still gets what it wants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_testing::xray;
use powertools_tracer::{InMemorySink, Tracer};
use serde_json::{Value, json};
use tower::{Layer as _, ServiceExt};
use tracing::Instrument;
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};

use common::{builder, sampled_event};

/// Counts the spans and events it is given.
#[derive(Clone, Default)]
struct Counting {
    spans: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
}

impl<S: Subscriber> Layer<S> for Counting {
    fn on_new_span(&self, _attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        self.spans.fetch_add(1, Ordering::SeqCst);
    }
    fn on_event(&self, _event: &Event<'_>, _ctx: Context<'_, S>) {
        self.events.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracer() -> (Tracer, InMemorySink) {
    let sink = InMemorySink::new();
    (builder(&[]).sink(sink.clone()).build().unwrap(), sink)
}

/// What the handler saw of the subscriber's decisions.
#[derive(Debug, Default)]
struct Seen {
    trace_span_disabled: bool,
    debug_span_disabled: bool,
    debug_event_enabled: bool,
    info_event_enabled: bool,
    subsegment_span_disabled: bool,
    trace_subsegment_span_disabled: bool,
}

/// Runs one sampled invocation under `dispatch`: other crates' TRACE/DEBUG spans and events, a
/// WARN event, and `## ` spans (one at TRACE) with an ERROR event inside, in a WARN span.
async fn invoke(t: &Tracer, dispatch: tracing::Dispatch) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = Arc::clone(&seen);
    let service = t.layer().layer(service_fn(move |_e: LambdaEvent<Value>| {
        let record = Arc::clone(&record);
        async move {
            let trace_span = tracing::trace_span!(target: "hyper::proto::h1", "poll");
            let debug_span = tracing::debug_span!(target: "aws_smithy_runtime", "send");
            let save = tracing::info_span!("## save_order", annotation.order_id = "o-1");
            {
                let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                seen.trace_span_disabled = trace_span.is_disabled();
                seen.debug_span_disabled = debug_span.is_disabled();
                seen.debug_event_enabled =
                    tracing::enabled!(target: "h2::codec", tracing::Level::DEBUG);
                seen.info_event_enabled = tracing::enabled!(tracing::Level::INFO);
                seen.subsegment_span_disabled = save.is_disabled();
            }
            tracing::warn!("stock is low");
            async {
                let deep = tracing::trace_span!("## deep");
                record
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .trace_subsegment_span_disabled = deep.is_disabled();
                async {}.instrument(deep).await;
                // Inside a span only the other layer wants.
                async { tracing::error!("write failed") }
                    .instrument(tracing::warn_span!("retry"))
                    .await;
            }
            .instrument(save)
            .await;
            Ok::<_, Error>(json!({"ok": true}))
        }
    }));
    let event = sampled_event("r-filtering", json!({}));
    let outcome =
        tracing::instrument::WithSubscriber::with_subscriber(service.oneshot(event), dispatch)
            .await;
    assert!(outcome.is_ok());
    Arc::try_unwrap(seen)
        .expect("the handler's clone is dropped")
        .into_inner()
        .unwrap()
}

/// Only the `## ` spans were enabled, whatever their level; the other crates' spans and
/// events were not.
fn check_enabled(seen: &Seen) {
    assert!(seen.trace_span_disabled, "{seen:?}");
    assert!(seen.debug_span_disabled, "{seen:?}");
    assert!(!seen.debug_event_enabled, "{seen:?}");
    assert!(!seen.info_event_enabled, "{seen:?}");
    assert!(!seen.subsegment_span_disabled, "{seen:?}");
    assert!(!seen.trace_subsegment_span_disabled, "{seen:?}");
}

fn check(seen: &Seen, sink: &InMemorySink, counting: &Counting) {
    check_enabled(seen);
    let docs: Vec<Value> = sink
        .subsegments()
        .iter()
        .map(|s| xray::check_datagram(&s.to_datagram().expect("fits one datagram")).unwrap())
        .collect();
    let named = |name: &str| {
        docs.iter()
            .find(|d| d["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name:?} in {docs:#?}"))
    };
    let save = named("## save_order");
    assert_eq!(save["annotations"]["order_id"], "o-1");
    assert_eq!(save["fault"], true, "{save}");
    assert_eq!(save["cause"]["exceptions"][0]["message"], "write failed");
    assert_eq!(named("## deep")["parent_id"], save["id"]);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    // The level-filtered layer still gets its WARN span and its WARN and ERROR events, and none
    // of the other spans.
    assert_eq!(counting.events.load(Ordering::SeqCst), 2);
    assert_eq!(counting.spans.load(Ordering::SeqCst), 1);
}

// One test, the subscribers one after the other: a callsite's interest is process-wide, and one
// that another thread is registering at the same moment is `sometimes` for the caller, which
// tracing-subscriber's registry then enables whatever the per-layer filters say.
#[tokio::test]
async fn only_subsegment_spans_and_error_events_are_enabled_beside_a_warn_layer() {
    // The span layer outside the level-filtered one.
    let (t, sink) = tracer();
    let counting = Counting::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(counting.clone().with_filter(LevelFilter::WARN))
            .with(t.tracing_layer()),
    );
    let seen = invoke(&t, dispatch).await;
    check(&seen, &sink, &counting);

    // Inside it.
    let (t, sink) = tracer();
    let counting = Counting::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(t.tracing_layer())
            .with(counting.clone().with_filter(LevelFilter::WARN)),
    );
    let seen = invoke(&t, dispatch).await;
    check(&seen, &sink, &counting);

    // Alone.
    let (t, sink) = tracer();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(t.tracing_layer()));
    let seen = invoke(&t, dispatch).await;
    check_enabled(&seen);
    assert_eq!(sink.subsegments().len(), 3);
}
