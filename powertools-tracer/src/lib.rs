//! AWS X-Ray tracing for AWS Lambda: subsegments from the handler, from ordinary `tracing`
//! spans, and from every AWS SDK call, sent over UDP to the X-Ray daemon.
//!
//! In Lambda the function's segment belongs to the Lambda service; this crate sends only
//! **subsegments**, each as one datagram when it ends, chained to the invocation's trace header
//! (`Context::xray_trace_id`, never the process environment).
//!
//! # Getting started
//!
//! ```no_run
//! use lambda_runtime::{Error, LambdaEvent, service_fn};
//! use powertools_tracer::Tracer;
//! use serde_json::{Value, json};
//! use tower::ServiceBuilder;
//! use tracing::Instrument;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! async fn handler(tracer: Tracer, event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     tracer.put_annotation("order_id", "o-1001"); // on the ## handler subsegment
//!     async {
//!         // ... save the order: a nested `## save_order` subsegment with an annotation
//!     }
//!     .instrument(tracing::info_span!("## save_order", annotation.customer = "c-42", items = 2))
//!     .await;
//!     Ok(json!({"ok": true}))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let tracer = Tracer::from_env();
//!     tracing::subscriber::set_global_default(tracing_subscriber::registry().with(tracer.tracing_layer()))?;
//!     let handler_tracer = tracer.clone();
//!     let service = ServiceBuilder::new()
//!         .layer(tracer.layer()) // ## handler, ColdStart and Service annotations
//!         .service(service_fn(move |event| handler(handler_tracer.clone(), event)));
//!     lambda_runtime::run(service).await
//! }
//! ```
//!
//! - **Spans**: a span whose name starts with `## ` is a subsegment; its fields named
//!   `annotation.<key>` become annotations (indexed, searchable), the others metadata under the
//!   service namespace. An ERROR event inside it marks it `fault` with a `cause`.
//!   [`Tracer::tracing_layer`] has its own per-layer filter ([`SpanFilter`]): it enables only
//!   `## ` spans and ERROR events, so beside a logger at INFO the TRACE and DEBUG spans of the
//!   SDK, hyper or h2 are never created.
//! - **Handler**: [`Tracer::layer`] (the core `InvocationLayer` running a [`TracerHook`])
//!   opens `## <handler>` (name from `_HANDLER`, or the builder)
//!   with `ColdStart` and `Service`, keeps the response (`<handler> response`) or the error
//!   (`<handler> error`) as metadata, and marks `fault` with a `cause` on error.
//! - **Panics**: a panicking handler is recorded like a failed one (`fault`, the panic's message
//!   in the `cause` with type `panic`); the `## ` spans it was inside are closed, sent and marked
//!   `fault` too; then the panic goes on, for `lambda_runtime` to report.
//! - **AWS SDK** (feature `aws-sdk`): `Tracer::interceptor()` on a client's config records each
//!   call as a subsegment with `namespace: "aws"` and the `aws` block, and propagates the trace
//!   header on the request.
//! - Annotation keys are 1 to 500 of `[A-Za-z0-9_]`, values strings (cut to 1,000
//!   characters), finite numbers or booleans, at most 50 per trace; anything else is kept as
//!   metadata, never dropped.
//!
//! # HTTP functions (lambda_http, axum)
//!
//! With the feature `http`, the same [`Tracer::layer`] wraps a service run by
//! `lambda_http::run`: an axum `Router` or a tower `service_fn` taking an `http::Request`
//! and returning an `http::Response`. The `## <handler>` subsegment is the same (ColdStart,
//! Service, errors, panics) and also gets:
//!
//! - the X-Ray `http` block: `request` with `method` and `url` (scheme, host and path as
//!   `lambda_http` builds them; never the query string), `response` with `status` and
//!   `content_length` when known;
//! - the route the API matched as the [`ROUTE_ANNOTATION`] (`Route`) annotation: the REST API's
//!   resource path (`/orders/{id}`), the HTTP API's route key (`GET /orders/{id}`; `$default`
//!   for function URLs); ALB requests have none. An annotation, so traces can be filtered by
//!   route;
//! - X-Ray's flags from the status: a 4xx response is an `error` (a 429 a `throttle` too), a 5xx
//!   a `fault`. A handler error or a panic is a `fault` with a `cause`, as for any handler.
//!
//! With `capture_response`, the `<handler> response` metadata is the status and content
//! length: the body is never serialized.
//!
//! ```no_run
//! # #[cfg(feature = "http")]
//! # mod example {
//! use axum::{Router, extract::Path, routing::get};
//! use lambda_http::Error;
//! use powertools_tracer::Tracer;
//! use tower::ServiceBuilder;
//!
//! async fn order(Path(id): Path<String>) -> String {
//!     format!("order {id}")
//! }
//!
//! pub async fn main() -> Result<(), Error> {
//!     let tracer = Tracer::from_env();
//!     let router = Router::new().route("/orders/{id}", get(order));
//!     let service = ServiceBuilder::new()
//!         .layer(tracer.layer()) // ## handler with the http block and the Route annotation
//!         .service(router);
//!     lambda_http::run(service).await
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! # When nothing is recorded
//!
//! Zero work (no subsegment, no datagram) when the header says `Sampled=0`, when there is no
//! header, when it is malformed (one warning), with `POWERTOOLS_TRACE_DISABLED=true`, with
//! `POWERTOOLS_DEV=true`, or outside Lambda (`AWS_LAMBDA_FUNCTION_NAME` unset) unless
//! [`TracerBuilder::enabled`] says otherwise.
//!
//! # Environment variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POWERTOOLS_SERVICE_NAME` | `Service` annotation, metadata namespace (unless set on the builder; the invocation scope carries the same name) | `service_undefined` |
//! | `POWERTOOLS_TRACE_DISABLED` | record nothing | `false` |
//! | `POWERTOOLS_TRACER_CAPTURE_RESPONSE` | keep the handler's response as metadata | `true` |
//! | `POWERTOOLS_TRACER_CAPTURE_ERROR` | keep the handler's error as metadata | `true` |
//! | `AWS_XRAY_DAEMON_ADDRESS` | `host:port`, or `tcp:h:p udp:h:p` | `127.0.0.1:2000` |
//! | `_HANDLER` | the handler subsegment's name | `handler` |
//!
//! # IAM
//!
//! The function sends to the X-Ray daemon over UDP; the daemon (run by Lambda when active
//! tracing is on) calls `xray:PutTraceSegments` and `xray:PutTelemetryRecords`. Give the
//! function's role those two actions (the managed policy `AWSXRayDaemonWriteAccess`) and turn
//! on active tracing (`Tracing: Active`).
//!
//! # Sending
//!
//! Each finished subsegment is one datagram: `{"format":"json","version":1}`, a newline, the
//! document, at most 65,507 bytes in all (the largest UDP payload over IPv4). A larger
//! document is trimmed, never dropped: the metadata first, then long exception messages,
//! exceptions past the 25th, long annotation values, the `aws`/`http` values, and so on until it
//! fits (see [`Subsegment::to_datagram`]); the metadata says what was trimmed
//! (`powertools.trimmed`). A subsegment records at most 100 exceptions and counts the rest
//! (`powertools.exceptions_not_recorded`); a metadata value nested deeper than 64 levels is
//! replaced by a note saying so. Sending never blocks and never fails the handler;
//! errors are reported once on stderr. Sinks are a trait
//! ([`SegmentSink`]), so other exporters can be added; [`InMemorySink`] keeps them for tests.
//!
//! # Layer order
//!
//! Outermost first: the logger's context layer (or `powertools_core::InvocationLayer`), the
//! metrics layer, [`Tracer::layer`], idempotency, the handler. [`Tracer::tracing_layer`] goes into
//! the `tracing` subscriber beside the logger's layer.
//!
//! # Testing your code
//!
//! Give the builder an [`InMemorySink`] (and `enabled(true)`), run the handler inside an
//! invocation with a sampled trace header, and assert the subsegments. End to end,
//! `powertools_testing::UdpCollector` receives the real datagrams, and (feature `schemas`)
//! `powertools_testing::xray::check_datagram` validates them.

mod layer;
mod segment;
mod sink;
mod spans;
mod state;
mod tracer;

#[cfg(feature = "http")]
mod http_hook;
#[cfg(feature = "aws-sdk")]
mod sdk;

#[cfg(feature = "http")]
pub use http_hook::ROUTE_ANNOTATION;
pub use layer::{TracerHook, TracerHookState, TracerLayer, TracerService};
#[cfg(feature = "aws-sdk")]
pub use sdk::XrayInterceptor;
pub use segment::{Annotation, Cause, Exception, Subsegment};
pub use sink::{
    DEFAULT_DAEMON_ADDRESS, InMemorySink, SegmentSink, UdpDaemonSink, parse_daemon_address,
};
pub use spans::{ANNOTATION_PREFIX, SUBSEGMENT_PREFIX, SpanFilter, SpanLayer};
pub use tracer::{Tracer, TracerBuilder};
