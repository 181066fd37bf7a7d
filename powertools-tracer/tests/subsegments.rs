//! Subsegments from the handler layer and from spans: chaining, annotations, errors, limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::{ColdStart, ConfigError, Env, Invocation};
use powertools_testing::{ManualClock, UdpCollector, test_event, xray};
use powertools_tracer::{InMemorySink, Subsegment, Tracer};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use common::{PARENT, ROOT, builder, header, sampled_event};

fn tracer(extra: &[(&str, &str)]) -> (Tracer, InMemorySink) {
    let sink = InMemorySink::new();
    (builder(extra).sink(sink.clone()).build().unwrap(), sink)
}

/// Every subsegment as the daemon would receive it, validated against the X-Ray schema.
fn documents(sink: &InMemorySink) -> Vec<Value> {
    sink.subsegments()
        .iter()
        .map(|s| {
            let datagram = s.to_datagram().expect("fits one datagram");
            xray::check_datagram(&datagram).unwrap()
        })
        .collect()
}

fn by_name<'a>(docs: &'a [Value], name: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["name"] == name).collect()
}

async fn handler(tracer: Tracer, event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracer.put_annotation("order_id", "o-1001");
    async {
        tracing::info!("saving");
        async {}
            .instrument(tracing::info_span!(
                "## write_item",
                annotation.table = "orders"
            ))
            .await;
        if event.payload["fail_inside"].as_bool() == Some(true) {
            tracing::error!("write failed");
        }
    }
    .instrument(tracing::info_span!(
        "## save_order",
        annotation.customer = "c-42",
        items = 2_u64,
        not_traced = tracing::field::Empty
    ))
    .await;
    async {}
        .instrument(tracing::info_span!("not a subsegment"))
        .await;
    if let Some(message) = event.payload["fail"].as_str() {
        return Err(message.into());
    }
    Ok(json!({"ok": true, "request": event.context.request_id}))
}

async fn invoke(
    t: &Tracer,
    request_id: &str,
    trace: Option<String>,
    payload: Value,
) -> Result<Value, Error> {
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(t.tracing_layer()));
    let handler_tracer = t.clone();
    let service = t
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(move |e| handler(handler_tracer.clone(), e)));
    let mut event = test_event(request_id, payload);
    event.context.xray_trace_id = trace;
    tracing::instrument::WithSubscriber::with_subscriber(service.oneshot(event), dispatch).await
}

#[tokio::test]
async fn subsegments_chain_to_the_trace_header() {
    let (t, sink) = tracer(&[]);
    assert!(invoke(&t, "r1", Some(header("1")), json!({})).await.is_ok());
    let docs = documents(&sink);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    let handler = by_name(&docs, "## bootstrap")[0];
    let save = by_name(&docs, "## save_order")[0];
    let write = by_name(&docs, "## write_item")[0];
    for doc in [handler, save, write] {
        assert_eq!(doc["trace_id"], ROOT);
        assert_eq!(doc["type"], "subsegment");
        assert!(doc["end_time"].as_f64() >= doc["start_time"].as_f64());
    }
    assert_eq!(handler["parent_id"], PARENT);
    assert_eq!(save["parent_id"], handler["id"]);
    assert_eq!(write["parent_id"], save["id"]);
    assert_eq!(
        handler["annotations"],
        json!({"ColdStart": true, "Service": "orders", "order_id": "o-1001"})
    );
    assert_eq!(
        handler["metadata"]["orders"]["bootstrap response"],
        json!({"ok": true, "request": "r1"})
    );
    assert_eq!(save["annotations"], json!({"customer": "c-42"}));
    assert_eq!(save["metadata"]["orders"]["items"], 2);
    assert_eq!(write["annotations"], json!({"table": "orders"}));
    assert!(handler.get("fault").is_none());
}

#[tokio::test]
async fn handler_errors_mark_fault_with_a_cause() {
    let (t, sink) = tracer(&[]);
    assert!(
        invoke(
            &t,
            "r",
            Some(header("1")),
            json!({"fail": "payment declined", "fail_inside": true})
        )
        .await
        .is_err()
    );
    let docs = documents(&sink);
    let handler = by_name(&docs, "## bootstrap")[0];
    assert_eq!(handler["fault"], true);
    assert_eq!(
        handler["cause"]["exceptions"][0]["message"],
        "payment declined"
    );
    assert_eq!(
        handler["metadata"]["orders"]["bootstrap error"],
        "payment declined"
    );
    assert!(
        handler["metadata"]["orders"]
            .get("bootstrap response")
            .is_none()
    );
    let save = by_name(&docs, "## save_order")[0];
    assert_eq!(save["fault"], true, "an ERROR event inside the span");
    assert_eq!(save["cause"]["exceptions"][0]["message"], "write failed");
}

#[tokio::test]
async fn capture_can_be_switched_off() {
    let (t, sink) = tracer(&[
        ("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false"),
        ("POWERTOOLS_TRACER_CAPTURE_ERROR", "false"),
    ]);
    let _ = invoke(&t, "r", Some(header("1")), json!({})).await;
    let _ = invoke(&t, "r", Some(header("1")), json!({"fail": "x"})).await;
    let docs = documents(&sink);
    for handler in by_name(&docs, "## bootstrap") {
        let metadata = handler["metadata"]["orders"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            !metadata
                .keys()
                .any(|k| k.ends_with("response") || k.ends_with("error")),
            "{handler}"
        );
    }
}

#[tokio::test]
async fn nothing_is_recorded_without_a_sampled_valid_header() {
    for trace in [
        None,
        Some(header("0")),
        Some("Root=garbage;Sampled=1".to_owned()),
        Some("Sampled=1".to_owned()),
    ] {
        let (t, sink) = tracer(&[]);
        assert!(
            invoke(&t, "r", trace.clone(), json!({})).await.is_ok(),
            "{trace:?}"
        );
        assert!(sink.subsegments().is_empty(), "{trace:?}");
    }
}

#[tokio::test]
async fn disabled_by_environment_or_outside_lambda() {
    for env in [
        vec![("POWERTOOLS_TRACE_DISABLED", "true")],
        vec![("POWERTOOLS_DEV", "true")],
    ] {
        let (t, sink) = tracer(&env);
        assert!(!t.is_enabled());
        let _ = invoke(&t, "r", Some(header("1")), json!({})).await;
        assert!(sink.subsegments().is_empty(), "{env:?}");
    }
    let sink = InMemorySink::new();
    let outside = Tracer::builder()
        .env(Env::from_lookup(|_| None))
        .sink(sink.clone())
        .build()
        .unwrap();
    assert!(!outside.is_enabled());
    let forced = Tracer::builder()
        .env(Env::from_lookup(|_| None))
        .enabled(true)
        .sink(sink.clone())
        .build()
        .unwrap();
    let _ = invoke(&forced, "r", Some(header("1")), json!({})).await;
    assert_eq!(sink.subsegments().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_keep_separate_traces() {
    let (t, sink) = tracer(&[]);
    let tasks: Vec<_> = (0..30u32)
        .map(|n| {
            let t = t.clone();
            tokio::spawn(async move {
                let root = format!("1-5759e988-{n:024x}");
                let trace = format!("Root={root};Parent={:016x};Sampled=1", n + 1);
                invoke(&t, &format!("req-{n}"), Some(trace), json!({}))
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await, Ok(Ok(()))));
    }
    let docs = documents(&sink);
    assert_eq!(docs.len(), 90);
    let handlers = by_name(&docs, "## bootstrap");
    for handler in &handlers {
        let n: u32 = handler["metadata"]["orders"]["bootstrap response"]["request"]
            .as_str()
            .and_then(|r| r.strip_prefix("req-"))
            .and_then(|n| n.parse().ok())
            .expect("the response names its request");
        assert_eq!(handler["trace_id"], format!("1-5759e988-{n:024x}"));
        assert_eq!(handler["parent_id"], format!("{:016x}", n + 1));
        // Its children carry its trace and point at it.
        let saves: Vec<&Value> = by_name(&docs, "## save_order")
            .into_iter()
            .filter(|s| s["parent_id"] == handler["id"])
            .collect();
        assert_eq!(saves.len(), 1);
        assert_eq!(saves[0]["trace_id"], handler["trace_id"]);
    }
}

#[tokio::test]
async fn annotation_rules_keep_bad_keys_and_extras_as_metadata() {
    let (t, sink) = tracer(&[]);
    let annotate = t.clone();
    let service = t.layer().layer(service_fn(move |_e: LambdaEvent<Value>| {
        let t = annotate.clone();
        async move {
            t.put_annotation("bad-key", "v");
            for i in 0..60 {
                t.put_annotation(&format!("k{i}"), i as i64);
            }
            Ok::<_, Error>(json!(null))
        }
    }));
    let event = sampled_event("r", json!({}));
    assert!(service.oneshot(event).await.is_ok());
    let docs = documents(&sink);
    let handler = &docs[0];
    let annotations = handler["annotations"]
        .as_object()
        .map(|a| a.len())
        .expect("annotations");
    assert_eq!(annotations, 50, "ColdStart, Service and 48 more");
    assert_eq!(handler["metadata"]["orders"]["bad-key"], "v");
    assert_eq!(handler["metadata"]["orders"]["k59"], 59);
}

#[tokio::test]
async fn oversized_documents_fit_one_datagram() {
    let (t, sink) = tracer(&[]);
    let service = t.layer().layer(service_fn(|_e: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"blob": "x".repeat(200_000)}))
    }));
    let event = sampled_event("r", json!({}));
    assert!(service.oneshot(event).await.is_ok());
    let subsegments: Vec<Subsegment> = sink.subsegments();
    let datagram = subsegments[0].to_datagram().expect("fits one datagram");
    assert!(datagram.len() <= 65_507);
    let doc = xray::check_datagram(&datagram).unwrap();
    assert!(
        doc["metadata"]["powertools"]["trimmed"]
            .as_str()
            .is_some_and(|m| m.contains("65,507"))
    );
}

#[tokio::test]
async fn datagrams_reach_a_real_udp_daemon() {
    let collector = UdpCollector::start().await.unwrap();
    let t = builder(&[(
        "AWS_XRAY_DAEMON_ADDRESS",
        &format!("tcp:127.0.0.1:1 udp:{}", collector.daemon_address()),
    )])
    .build()
    .unwrap();
    assert!(invoke(&t, "r", Some(header("1")), json!({})).await.is_ok());
    let datagrams = collector.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(datagrams.len(), 3);
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| xray::check_datagram(d).unwrap())
        .collect();
    assert!(docs.iter().all(|d| d["trace_id"] == ROOT));
}

#[tokio::test]
async fn a_daemon_that_is_not_listening_never_fails_the_handler() {
    // Nothing listens on this loopback port.
    let t = builder(&[("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:9")])
        .build()
        .unwrap();
    for n in 0..3 {
        assert!(
            invoke(&t, &format!("r{n}"), Some(header("1")), json!({}))
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn the_service_name_is_resolved_once_for_the_annotation_and_the_scope() {
    assert!(matches!(
        builder(&[]).service_name(" ").build(),
        Err(ConfigError::EmptyServiceName)
    ));
    let sink = InMemorySink::new();
    let t = builder(&[])
        .service_name("payments")
        .sink(sink.clone())
        .build()
        .unwrap();
    assert_eq!(t.service_name(), "payments");
    let service = t.layer().layer(service_fn(|_e: LambdaEvent<Value>| async {
        let scope = Invocation::current().expect("the layer opens the scope");
        Ok::<_, Error>(json!({"scope_service": scope.config().service_name()}))
    }));
    let event = sampled_event("r", json!({}));
    let response = service.oneshot(event).await.unwrap();
    assert_eq!(response, json!({"scope_service": "payments"}));
    let docs = documents(&sink);
    let handler = by_name(&docs, "## bootstrap")[0];
    assert_eq!(handler["annotations"]["Service"], "payments");
    assert_eq!(
        handler["metadata"]["payments"]["bootstrap response"],
        json!({"scope_service": "payments"})
    );
}

#[tokio::test]
async fn subsegments_are_timed_by_the_builder_s_clock() {
    let clock = ManualClock::at_epoch_millis(1_700_000_000_000);
    let sink = InMemorySink::new();
    let t = builder(&[])
        .clock(clock.clock())
        .sink(sink.clone())
        .build()
        .unwrap();
    let handler_clock = clock.clone();
    let service = t.layer().layer(service_fn(move |_e: LambdaEvent<Value>| {
        let clock = handler_clock.clone();
        async move {
            clock.advance(Duration::from_millis(250));
            Ok::<_, Error>(json!(null))
        }
    }));
    let event = sampled_event("r", json!({}));
    assert!(service.oneshot(event).await.is_ok());
    let docs = documents(&sink);
    assert_eq!(docs[0]["start_time"], 1_700_000_000.0);
    assert_eq!(docs[0]["end_time"], 1_700_000_000.25);
}
