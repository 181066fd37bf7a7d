#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod clock;
mod cold_start;
mod common;
mod config;
mod correlation;
mod env;
mod hash;
mod invocation;
mod layer;
mod panic;
mod random;
mod report;
mod streaming;
mod trace_header;
mod writer;

pub use cache::TtlCache;
pub use clock::{BoxFuture, Clock, duration_millis, epoch_millis};
pub use cold_start::{ColdStart, is_initialized, take_cold_start};
pub use common::{Common, CommonConfig};
pub use config::{
    ConfigError, DEFAULT_SERVICE_NAME, FunctionConfig, FunctionConfigBuilder, InitializationType,
};
pub use correlation::{scoped_correlation_id, sync_with_correlation_id, with_correlation_id};
pub use env::{Env, Malformed};
pub use hash::Fnv1a;
pub use invocation::{Extensions, Invocation, InvocationBuilder, TraceContext, spawn};
pub use layer::{
    InvocationFuture, InvocationHook, InvocationLayer, InvocationService, LambdaRequest,
};
pub use panic::{
    CatchPanic, Panicked, catch_panic, catch_panic_sync, panic_in_progress, unwinding_from,
};
pub use random::{random_u64, random_unit};
pub use report::{WARNING_TARGET, warn};
pub use streaming::{
    Head, Streamed, StreamingBody, StreamingFuture, StreamingLayer, StreamingService,
};
pub use trace_header::{Sampling, TraceHeader, TraceHeaderError};
pub use writer::LineWriter;
