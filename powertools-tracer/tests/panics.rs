//! A panicking handler: the `## <handler>` subsegment and the `## ` spans it was inside are
//! still closed and sent, marked `fault`, and the panic goes on to the caller.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::panic, reason = "these handlers panic on purpose")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::{ColdStart, catch_panic};
use powertools_testing::{UdpCollector, xray};
use powertools_tracer::{InMemorySink, Tracer};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use common::{PARENT, builder, sampled_event};

/// Charges a card inside a synchronous `## charge` span, which panics on `"declined"`.
fn charge(card: &str) -> u32 {
    let span = tracing::info_span!("## charge", annotation.card = card);
    let _entered = span.enter();
    if card == "declined" {
        panic!("card declined");
    }
    42
}

/// The handler, inside a `## handle_order` span held by its future.
fn handler(
    event: LambdaEvent<Value>,
) -> impl std::future::Future<Output = Result<Value, Error>> + Send {
    handle_order(event).instrument(tracing::info_span!("## handle_order"))
}

async fn handle_order(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let card = event.payload["card"].as_str().unwrap_or("ok").to_owned();
    let receipt = async {
        async {}
            .instrument(tracing::info_span!("## lookup_customer"))
            .await;
        tokio::task::yield_now().await;
        charge(&card)
    }
    .instrument(tracing::info_span!("## save_order"))
    .await;
    Ok(json!({"receipt": receipt}))
}

/// Runs one invocation of a handler under the span layer; returns the panic's message if the
/// service panicked.
async fn invoke_panicking<F, Fut>(t: &Tracer, f: F, payload: Value) -> Option<String>
where
    F: Fn(LambdaEvent<Value>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Value, Error>> + Send + 'static,
{
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(t.tracing_layer()));
    let service = t
        .layer()
        .with_cold_start_flag(Arc::new(ColdStart::new()))
        .layer(service_fn(f));
    let outcome = tracing::instrument::WithSubscriber::with_subscriber(
        catch_panic(|| service.oneshot(sampled_event("r-panic", payload))),
        dispatch,
    )
    .await;
    outcome.err().map(|panicked| panicked.message().to_owned())
}

fn documents(datagrams: &[Vec<u8>]) -> Vec<Value> {
    datagrams
        .iter()
        .map(|d| xray::check_datagram(d).unwrap())
        .collect()
}

fn named<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["name"] == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} in {docs:#?}");
    found[0]
}

fn datagrams(sink: &InMemorySink) -> Vec<Vec<u8>> {
    sink.subsegments()
        .iter()
        .map(|s| s.to_datagram().expect("fits one datagram"))
        .collect()
}

#[tokio::test]
async fn a_panicking_handler_still_sends_its_subsegments_and_the_panic_goes_on() {
    let sink = InMemorySink::new();
    let t = builder(&[]).sink(sink.clone()).build().unwrap();
    let panic = invoke_panicking(&t, handler, json!({"card": "declined"})).await;
    assert_eq!(
        panic.as_deref(),
        Some("card declined"),
        "the panic is resumed"
    );

    let docs = documents(&datagrams(&sink));
    assert_eq!(docs.len(), 5, "{docs:#?}");
    let root = named(&docs, "## bootstrap");
    assert_eq!(root["parent_id"], PARENT);
    assert_eq!(root["fault"], true);
    assert_eq!(root["cause"]["exceptions"][0]["message"], "card declined");
    assert_eq!(root["cause"]["exceptions"][0]["type"], "panic");
    assert_eq!(
        root["metadata"]["orders"]["bootstrap error"], "card declined",
        "captured like an error"
    );
    assert_eq!(root["annotations"]["ColdStart"], true);

    // The spans the panic went through are closed and sent too, as faults.
    let outer = named(&docs, "## handle_order");
    let save = named(&docs, "## save_order");
    let charge = named(&docs, "## charge");
    assert_eq!(outer["parent_id"], root["id"]);
    assert_eq!(save["parent_id"], outer["id"]);
    assert_eq!(charge["parent_id"], save["id"]);
    for doc in [outer, save, charge] {
        assert_eq!(doc["fault"], true, "{doc}");
        assert_eq!(doc["cause"]["exceptions"][0]["type"], "panic", "{doc}");
        assert!(doc["end_time"].as_f64() <= root["end_time"].as_f64());
    }
    // Closed while the thread unwound (locals of the panicking futures): the panic's message
    // is not known yet.
    for doc in [save, charge] {
        assert!(
            doc["cause"]["exceptions"][0]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("panicked")),
            "{doc}"
        );
    }
    // Held by the handler's future, dropped once the panic was caught: its message is known.
    assert_eq!(outer["cause"]["exceptions"][0]["message"], "card declined");
    assert_eq!(charge["annotations"]["card"], "declined");
    // A span that had ended before the panic is not a fault.
    let lookup = named(&docs, "## lookup_customer");
    assert!(lookup.get("fault").is_none(), "{lookup}");
}

#[tokio::test]
async fn a_handler_that_does_not_panic_is_unchanged() {
    let sink = InMemorySink::new();
    let t = builder(&[]).sink(sink.clone()).build().unwrap();
    assert_eq!(invoke_panicking(&t, handler, json!({})).await, None);
    let docs = documents(&datagrams(&sink));
    assert_eq!(docs.len(), 5);
    assert!(docs.iter().all(|d| d.get("fault").is_none()), "{docs:#?}");
    assert_eq!(
        named(&docs, "## bootstrap")["metadata"]["orders"]["bootstrap response"],
        json!({"receipt": 42})
    );
}

#[tokio::test]
async fn a_panic_in_the_service_call_itself_is_recorded() {
    let sink = InMemorySink::new();
    let t = builder(&[("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")])
        .sink(sink.clone())
        .build()
        .unwrap();
    let panicking_call = |_event: LambdaEvent<Value>| -> std::future::Ready<Result<Value, Error>> {
        panic!("{}", String::from("no future for you"))
    };
    let panic = invoke_panicking(&t, panicking_call, json!({})).await;
    assert_eq!(panic.as_deref(), Some("no future for you"));
    let docs = documents(&datagrams(&sink));
    assert_eq!(docs.len(), 1, "{docs:#?}");
    assert_eq!(docs[0]["fault"], true);
    assert_eq!(
        docs[0]["cause"]["exceptions"][0]["message"],
        "no future for you"
    );
    assert!(
        docs[0]
            .get("metadata")
            .is_none_or(|m| m["orders"].get("bootstrap error").is_none()),
        "capture_error off: {}",
        docs[0]
    );
}

#[tokio::test]
async fn a_panicking_handler_reaches_a_real_udp_daemon() {
    let collector = UdpCollector::start().await.unwrap();
    let t = builder(&[("AWS_XRAY_DAEMON_ADDRESS", &collector.daemon_address())])
        .build()
        .unwrap();
    let panic = invoke_panicking(&t, handler, json!({"card": "declined"})).await;
    assert_eq!(panic.as_deref(), Some("card declined"));
    let received = collector.wait_for(5, Duration::from_secs(5)).await;
    let docs = documents(&received);
    assert_eq!(docs.len(), 5, "{docs:#?}");
    let root = named(&docs, "## bootstrap");
    assert_eq!(root["fault"], true);
    assert_eq!(root["cause"]["exceptions"][0]["message"], "card declined");
    assert_eq!(named(&docs, "## save_order")["fault"], true);
    assert_eq!(named(&docs, "## charge")["fault"], true);
}

/// A value whose `Debug` panics, recorded on a `## ` span or logged inside one.
struct Bomb;

impl std::fmt::Debug for Bomb {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("bad debug")
    }
}

#[tokio::test]
async fn a_panic_while_the_span_layer_formats_a_value_still_closes_the_span() {
    // Recording the field (`on_record`) and logging an ERROR event (`on_event`) run the
    // value's `Debug`: its panic must not leave the span unable to close (a panic while
    // unwinding aborts the process).
    for how in ["record", "event"] {
        let sink = InMemorySink::new();
        let t = builder(&[]).sink(sink.clone()).build().unwrap();
        let formatting = move |_event: LambdaEvent<Value>| async move {
            async {
                if how == "record" {
                    tracing::Span::current().record("detail", tracing::field::debug(&Bomb));
                } else {
                    tracing::error!("failed: {:?}", Bomb);
                }
            }
            .instrument(tracing::info_span!(
                "## format",
                detail = tracing::field::Empty
            ))
            .await;
            Ok::<_, Error>(json!(null))
        };
        let panic = invoke_panicking(&t, formatting, json!({})).await;
        assert_eq!(panic.as_deref(), Some("bad debug"), "{how}");
        let docs = documents(&datagrams(&sink));
        assert_eq!(docs.len(), 2, "{how}: {docs:#?}");
        let span = named(&docs, "## format");
        assert_eq!(span["fault"], true, "{how}: {span}");
        assert_eq!(named(&docs, "## bootstrap")["fault"], true, "{how}");
    }
}
