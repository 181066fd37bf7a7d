#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod layer;
mod segment;
mod sink;
mod spans;
mod state;
mod tracer;

#[cfg(feature = "http")]
mod http_hook;
#[cfg(feature = "otel")]
mod otlp;
#[cfg(feature = "aws-sdk")]
mod sdk;

#[cfg(feature = "http")]
pub use http_hook::ROUTE_ANNOTATION;
pub use layer::{TracerHook, TracerHookState, TracerLayer, TracerService};
#[cfg(feature = "aws-sdk")]
pub use sdk::XrayInterceptor;
pub use segment::{Annotation, Cause, Exception, Subsegment};
pub use sink::{
    DEFAULT_DAEMON_ADDRESS, InMemorySink, InvocationSpans, SegmentSink, UdpDaemonSink,
    parse_daemon_address,
};
pub use spans::{ANNOTATION_PREFIX, SUBSEGMENT_PREFIX, SpanFilter, SpanLayer};
pub use tracer::{Tracer, TracerBuilder};

#[cfg(feature = "otel")]
pub use otlp::{OtlpTransport, OtlpTransportError};
