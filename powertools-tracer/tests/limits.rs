//! X-Ray's limits: every subsegment is sent in one IPv4 UDP datagram (at most 65,507 bytes,
//! header line included), trimmed rather than dropped, with annotation values of at most 1,000
//! characters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_testing::{UdpCollector, xray};
use powertools_tracer::{InMemorySink, Tracer, TracerBuilder};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use common::{env, sampled_event};

/// The largest UDP payload over IPv4: 65,535 - 8 (UDP header) - 20 (IPv4 header).
const MAX_DATAGRAM: usize = 65_507;

fn builder() -> TracerBuilder {
    common::builder(&[])
}

/// Runs `body` as the handler of one sampled invocation, under the span layer.
async fn invoke<F, Fut>(t: &Tracer, body: F)
where
    F: Fn(Tracer) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(t.tracing_layer()));
    let inner = t.clone();
    let body = std::sync::Arc::new(body);
    let service = t.layer().layer(service_fn(move |_e: LambdaEvent<Value>| {
        let run = body(inner.clone());
        async move {
            run.await;
            Ok::<_, Error>(json!({"ok": true}))
        }
    }));
    let event = sampled_event("r-limits", json!({}));
    let outcome =
        tracing::instrument::WithSubscriber::with_subscriber(service.oneshot(event), dispatch)
            .await;
    assert!(outcome.is_ok());
}

/// Every subsegment in `sink` as its datagram: present (not dropped), within the limit, valid.
fn checked_documents(sink: &InMemorySink) -> Vec<Value> {
    sink.subsegments()
        .iter()
        .map(|s| {
            let datagram = s.to_datagram();
            assert!(datagram.is_some(), "dropped: {}", s.name);
            let datagram = datagram.expect("not dropped");
            assert!(datagram.len() <= MAX_DATAGRAM, "{} bytes", datagram.len());
            xray::check_datagram(&datagram).unwrap()
        })
        .collect()
}

fn named<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name:?} in {docs:#?}"))
}

#[tokio::test]
async fn a_200_kb_annotation_reaches_the_daemon_cut_to_1000_characters() {
    let collector = UdpCollector::start().await.unwrap();
    let daemon = collector.daemon_address();
    let t = Tracer::builder()
        .env(env(&[("AWS_XRAY_DAEMON_ADDRESS", &daemon)]))
        .build()
        .unwrap();
    invoke(&t, |t| async move {
        let big = "x".repeat(200 * 1024);
        t.put_annotation("note", big.as_str());
        async {}
            .instrument(tracing::info_span!(
                "## save",
                annotation.blob = big.as_str()
            ))
            .await;
    })
    .await;
    let received = collector.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 2, "both subsegments are sent");
    let docs: Vec<Value> = received
        .iter()
        .map(|d| {
            assert!(d.len() <= MAX_DATAGRAM, "{} bytes", d.len());
            xray::check_datagram(d).unwrap()
        })
        .collect();
    let handler = named(&docs, "## bootstrap");
    assert_eq!(handler["annotations"]["note"], "x".repeat(1_000));
    assert_eq!(handler["annotations"]["Service"], "orders");
    assert_eq!(
        named(&docs, "## save")["annotations"]["blob"],
        "x".repeat(1_000)
    );
}

#[tokio::test]
async fn annotation_values_are_cut_at_1000_characters_on_a_char_boundary() {
    let sink = InMemorySink::new();
    let t = builder().sink(sink.clone()).build().unwrap();
    invoke(&t, |t| async move {
        t.put_annotation("accents", "é".repeat(2_000));
        t.put_annotation("ascii", "a".repeat(2_000));
        t.put_annotation("short", "fits");
        t.put_annotation("exact", "z".repeat(1_000));
    })
    .await;
    let docs = checked_documents(&sink);
    let annotations = &named(&docs, "## bootstrap")["annotations"];
    assert_eq!(annotations["accents"], "é".repeat(1_000));
    assert_eq!(annotations["ascii"], "a".repeat(1_000));
    assert_eq!(annotations["short"], "fits");
    assert_eq!(annotations["exact"], "z".repeat(1_000));
}

#[tokio::test]
async fn five_thousand_error_events_in_one_span_are_sent_trimmed() {
    let sink = InMemorySink::new();
    let t = builder().sink(sink.clone()).build().unwrap();
    invoke(&t, |_t| async {
        async {
            for n in 0..5_000 {
                tracing::error!("write {n} failed");
            }
        }
        .instrument(tracing::info_span!("## bulk_write"))
        .await;
    })
    .await;
    let docs = checked_documents(&sink);
    let bulk = named(&docs, "## bulk_write");
    assert_eq!(bulk["fault"], true);
    let exceptions = bulk["cause"]["exceptions"]
        .as_array()
        .cloned()
        .expect("exceptions");
    assert!(
        !exceptions.is_empty() && exceptions.len() < 5_000,
        "{}",
        exceptions.len()
    );
    assert_eq!(
        exceptions[0]["message"], "write 0 failed",
        "the first are kept"
    );
    let kept = u64::try_from(exceptions.len()).unwrap_or(u64::MAX);
    assert_eq!(
        bulk["metadata"]["powertools"]["exceptions_not_recorded"].as_u64(),
        Some(5_000 - kept),
        "{bulk}"
    );
}

/// A `## ` span with the 48 annotations a trace has left, each 250 control characters (about
/// 1,500 bytes once escaped): the largest are dropped with room left for the note saying so,
/// whatever the excess (the key length varies it).
#[tokio::test]
async fn a_span_of_48_escaped_annotations_is_sent_trimmed_not_dropped() {
    for key_len in 1..=40 {
        let sink = InMemorySink::new();
        let t = builder().sink(sink.clone()).build().unwrap();
        invoke(&t, move |t| async move {
            async {
                for n in 0..48 {
                    let key = format!("{n:02}{}", "k".repeat(key_len));
                    t.put_annotation(&key, "\u{1}".repeat(250));
                }
            }
            .instrument(tracing::info_span!("## escaped"))
            .await;
        })
        .await;
        let docs = checked_documents(&sink);
        let escaped = named(&docs, "## escaped");
        let kept = escaped["annotations"].as_object().map_or(0, |a| a.len());
        assert!((1..48).contains(&kept), "key length {key_len}: {kept} kept");
        let note = escaped["metadata"]["powertools"]["trimmed"]
            .as_str()
            .unwrap_or("");
        assert!(
            note.contains("largest annotations"),
            "key length {key_len}: {note}"
        );
    }
}

#[tokio::test]
async fn huge_error_messages_and_metadata_are_trimmed_not_dropped() {
    let sink = InMemorySink::new();
    let t = builder().sink(sink.clone()).build().unwrap();
    invoke(&t, |t| async move {
        t.put_metadata("payload", json!("p".repeat(300_000)));
        async {
            for n in 0..80 {
                tracing::error!("{n}: {}", "e".repeat(40_000));
            }
        }
        .instrument(tracing::info_span!(
            "## noisy",
            detail = "d".repeat(100_000)
        ))
        .await;
    })
    .await;
    let docs = checked_documents(&sink);
    let noisy = named(&docs, "## noisy");
    assert_eq!(noisy["fault"], true);
    let exceptions = noisy["cause"]["exceptions"]
        .as_array()
        .cloned()
        .expect("exceptions");
    assert!(!exceptions.is_empty());
    assert!(
        exceptions[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("0: eee")),
        "{}",
        exceptions[0]
    );
    for doc in [noisy, named(&docs, "## bootstrap")] {
        let note = doc["metadata"]["powertools"]["trimmed"]
            .as_str()
            .unwrap_or("");
        assert!(note.contains("65,507"), "{note}");
    }
}

#[test]
fn the_guard_is_the_ipv4_udp_limit_not_64_kib() {
    // A document whose datagram lands between 65,507 and 65,535 bytes must be trimmed.
    let sink = InMemorySink::new();
    let t = builder().sink(sink.clone()).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Size the metadata so that the untrimmed datagram is 65,520 bytes.
    let probe = |len: usize| {
        let sink = InMemorySink::new();
        let t = builder().sink(sink.clone()).build().unwrap();
        runtime.block_on(invoke(&t, move |t| async move {
            t.put_metadata("payload", json!("p".repeat(len)));
        }));
        let subsegments = sink.subsegments();
        serde_json::to_vec(&subsegments[0]).map_or(0, |d| d.len())
    };
    let header = br#"{"format":"json","version":1}"#.len() + 1;
    let base = probe(60_000);
    let len = 60_000 + 65_520 - (base + header);
    runtime.block_on(invoke(&t, move |t| async move {
        t.put_metadata("payload", json!("p".repeat(len)));
    }));
    let subsegments = sink.subsegments();
    let untrimmed = serde_json::to_vec(&subsegments[0]).map_or(0, |d| d.len()) + header;
    assert!(
        untrimmed > MAX_DATAGRAM && untrimmed < 65_535,
        "{untrimmed}"
    );
    let docs = checked_documents(&sink);
    assert!(docs[0]["metadata"]["powertools"]["trimmed"].is_string());
}

/// An annotation or metadata key: valid, invalid, long, unicode.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_]{1,20}",
        "[A-Za-z0-9_]{490,520}",
        "\\PC{0,40}",
        Just(String::new()),
    ]
}

/// A string value: short, long, unicode, control characters (escaped to 6 bytes each).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,50}",
        "\\PC{900,1100}",
        "[\\x00-\\x1f]{0,3000}",
        (1usize..300_000).prop_map(|n| "v".repeat(n)),
        (1usize..20_000).prop_map(|n| "\u{1F600}".repeat(n)),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Annotate(String, String),
    AnnotateNumber(String, f64),
    Metadata(String, String),
    Error(String),
    ErrorBurst(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), text()).prop_map(|(k, v)| Op::Annotate(k, v)),
        (key(), any::<f64>()).prop_map(|(k, v)| Op::AnnotateNumber(k, v)),
        (key(), text()).prop_map(|(k, v)| Op::Metadata(k, v)),
        text().prop_map(Op::Error),
        (0usize..3_000).prop_map(Op::ErrorBurst),
    ]
}

fn apply(t: &Tracer, op: &Op) {
    match op {
        Op::Annotate(k, v) => {
            t.put_annotation(k, v.as_str());
        }
        Op::AnnotateNumber(k, v) => {
            t.put_annotation(k, *v);
        }
        Op::Metadata(k, v) => {
            t.put_metadata(k, json!(v));
        }
        Op::Error(message) => tracing::error!("{message}"),
        Op::ErrorBurst(n) => {
            for i in 0..*n {
                tracing::error!("burst {i}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever goes into the handler subsegment and a nested span (annotations, metadata,
    /// errors), every datagram is sent, valid and within 65,507 bytes.
    #[test]
    fn every_datagram_is_valid_and_fits(
        service in "\\PC{1,300}",
        handler_ops in proptest::collection::vec(op(), 0..12),
        span_ops in proptest::collection::vec(op(), 0..12),
        span_field in text(),
    ) {
        let sink = InMemorySink::new();
        let built = Tracer::builder()
            .env(env(&[("POWERTOOLS_SERVICE_NAME", "")]))
            .service_name(service.clone())
            .sink(sink.clone())
            .build();
        if service.trim().is_empty() {
            // An explicit blank service name is refused.
            prop_assert!(built.is_err());
            return Ok(());
        }
        let t = built.unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(invoke(&t, move |t| {
            let handler_ops = handler_ops.clone();
            let span_ops = span_ops.clone();
            let span_field = span_field.clone();
            async move {
                for op in &handler_ops {
                    apply(&t, op);
                }
                async {
                    for op in &span_ops {
                        apply(&t, op);
                    }
                }
                .instrument(tracing::info_span!(
                    "## step",
                    annotation.field = span_field.as_str(),
                    other = span_field.as_str()
                ))
                .await;
            }
        }));
        let subsegments = sink.subsegments();
        prop_assert_eq!(subsegments.len(), 2);
        for subsegment in &subsegments {
            let datagram = subsegment.to_datagram();
            prop_assert!(datagram.is_some(), "dropped");
            let datagram = datagram.expect("not dropped");
            prop_assert!(datagram.len() <= MAX_DATAGRAM, "{} bytes", datagram.len());
            let checked = xray::check_datagram(&datagram);
            prop_assert!(checked.is_ok(), "{:?}", checked.err());
        }
    }
}

#[tokio::test]
async fn deeply_nested_metadata_is_recorded_as_a_note() {
    let sink = InMemorySink::new();
    let t = builder().sink(sink.clone()).build().unwrap();
    invoke(&t, |t| async move {
        let mut deep = json!("bottom");
        for _ in 0..5_000 {
            deep = Value::Array(vec![deep]);
        }
        t.put_metadata("deep", deep);
        let mut fine = json!("bottom");
        for _ in 0..10 {
            fine = Value::Object([("next".to_owned(), fine)].into_iter().collect());
        }
        t.put_metadata("fine", fine);
    })
    .await;
    let docs = checked_documents(&sink);
    let metadata = &named(&docs, "## bootstrap")["metadata"]["orders"];
    assert!(
        metadata["deep"]
            .as_str()
            .is_some_and(|note| note.contains("64 levels")),
        "{}",
        metadata["deep"]
    );
    assert_eq!(
        metadata["fine"].pointer("/next/next/next/next/next/next/next/next/next/next"),
        Some(&json!("bottom"))
    );
}

#[test]
fn the_validator_holds_datagrams_to_the_same_limit() {
    assert_eq!(xray::MAX_DATAGRAM, MAX_DATAGRAM);
    let datagram = |total: usize| {
        let head = "{\"format\":\"json\",\"version\":1}\n{\"type\":\"subsegment\",\"name\":\"## x\",\
                    \"id\":\"0123456789abcdef\",\"trace_id\":\"1-5759e988-bd862e3fe1be46a994272793\",\
                    \"parent_id\":\"557abcec3ee5a047\",\"start_time\":1,\"end_time\":2,\
                    \"metadata\":{\"m\":{\"pad\":\"";
        let tail = "\"}}}";
        let pad = "p".repeat(total - head.len() - tail.len());
        format!("{head}{pad}{tail}").into_bytes()
    };
    let fits = datagram(MAX_DATAGRAM);
    assert_eq!(fits.len(), MAX_DATAGRAM);
    assert!(xray::check_datagram(&fits).is_ok());
    let over = datagram(MAX_DATAGRAM + 1);
    assert!(xray::check_datagram(&over).is_err());
}
