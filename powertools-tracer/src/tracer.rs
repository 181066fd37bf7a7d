//! The tracer: configuration, the per-invocation trace state, and the handle users keep.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use powertools_core::{Env, FunctionConfig, Invocation, TraceContext};

use crate::segment::{Annotation, MAX_ANNOTATION_CHARS, Subsegment, epoch_seconds, truncate_chars};
use crate::sink::{DEFAULT_DAEMON_ADDRESS, SegmentSink, UdpDaemonSink, parse_daemon_address};

type Clock = dyn Fn() -> SystemTime + Send + Sync;

/// X-Ray allows 50 annotations per trace.
pub(crate) const MAX_ANNOTATIONS: usize = 50;

/// The trace of one invocation, when it is being recorded.
#[derive(Debug)]
pub(crate) struct TraceState {
    pub(crate) trace_id: String,
    /// The Lambda function segment's id (the header's `Parent`).
    pub(crate) parent_id: Option<String>,
    /// The open `## handler` subsegment, parent of everything inside the handler.
    pub(crate) handler: Mutex<Option<Subsegment>>,
    annotations: AtomicUsize,
}

impl TraceState {
    /// The parent for a new subsegment when no enclosing one is known.
    pub(crate) fn default_parent(&self) -> Option<String> {
        self.handler
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|s| s.id.clone()))
            .or_else(|| self.parent_id.clone())
    }

    /// Whether one more annotation fits in the trace.
    pub(crate) fn take_annotation_slot(&self) -> bool {
        self.annotations.fetch_add(1, Ordering::Relaxed) < MAX_ANNOTATIONS
    }
}

/// The per-invocation decision, in the invocation's extensions.
#[derive(Debug)]
struct Decision(Option<Arc<TraceState>>);

pub(crate) struct Inner {
    pub(crate) config: FunctionConfig,
    pub(crate) enabled: bool,
    pub(crate) service: String,
    pub(crate) handler_name: String,
    pub(crate) capture_response: bool,
    pub(crate) capture_error: bool,
    pub(crate) sink: Arc<dyn SegmentSink>,
    clock: Arc<Clock>,
    warned_malformed: AtomicBool,
    warned_annotations: AtomicBool,
}

/// The tracer: a cheap handle (an `Arc`). Build it once at INIT; hand out its
/// [`layer`](Tracer::layer) for the handler, its [`span_layer`](Tracer::span_layer) for the
/// subscriber, and (feature `aws-sdk`) its interceptor for SDK clients.
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("enabled", &self.inner.enabled)
            .field("service", &self.inner.service)
            .field("sink", &self.inner.sink)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A builder reading unset values from the process environment.
    pub fn builder() -> TracerBuilder {
        TracerBuilder::default()
    }

    /// A tracer configured from the environment, sending to the daemon at
    /// `AWS_XRAY_DAEMON_ADDRESS`. Never fails.
    pub fn from_env() -> Self {
        TracerBuilder::default().build()
    }

    /// Whether the tracer records anything at all (see the crate docs for when it is off).
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    pub(crate) fn now(&self) -> f64 {
        epoch_seconds((self.inner.clock)())
    }

    /// The trace state of `invocation`, when its trace is recorded (decided once per
    /// invocation): enabled, a valid header, `Sampled=1`.
    pub(crate) fn trace_state(&self, invocation: &Invocation) -> Option<Arc<TraceState>> {
        if !self.inner.enabled {
            return None;
        }
        let decision = invocation.extensions().get_or_insert_with(|| {
            Decision(match invocation.trace() {
                TraceContext::Valid(header) if header.is_sampled() => Some(Arc::new(TraceState {
                    trace_id: header.root().to_owned(),
                    parent_id: header.parent().map(str::to_owned),
                    handler: Mutex::new(None),
                    annotations: AtomicUsize::new(0),
                })),
                TraceContext::Malformed { raw, error } => {
                    if !self.inner.warned_malformed.swap(true, Ordering::Relaxed) {
                        eprintln!("[powertools] X-Ray trace header {raw:?} is malformed ({error}): tracing is off for that invocation (warned once)");
                    }
                    None
                }
                _ => None,
            })
        });
        decision.0.clone()
    }

    /// The trace state of the current invocation, if recorded.
    pub(crate) fn current_state(&self) -> Option<Arc<TraceState>> {
        if !self.inner.enabled {
            return None;
        }
        Invocation::current().and_then(|invocation| self.trace_state(&invocation))
    }

    /// Adds an annotation if the key is valid, the value a string, a finite number or a
    /// boolean, and the trace has room; else the value goes to metadata (nothing is lost) with
    /// one warning. String values are cut to X-Ray's 1,000 characters.
    pub(crate) fn annotate(
        &self,
        state: &TraceState,
        subsegment: &mut Subsegment,
        key: &str,
        mut value: Annotation,
    ) {
        let valid_key = !key.is_empty()
            && key.len() <= 500
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let valid_value = match &mut value {
            Annotation::String(text) => {
                truncate_chars(text, MAX_ANNOTATION_CHARS);
                true
            }
            Annotation::Float(number) => number.is_finite(),
            Annotation::Int(_) | Annotation::Bool(_) => true,
        };
        if valid_key && valid_value && state.take_annotation_slot() {
            subsegment.annotations.insert(key.to_owned(), value);
            return;
        }
        if !self.inner.warned_annotations.swap(true, Ordering::Relaxed) {
            eprintln!(
                "[powertools] annotation {key:?} kept as metadata: keys are 1 to 500 of [A-Za-z0-9_], values strings, finite numbers or booleans, at most {MAX_ANNOTATIONS} per trace (warned once)"
            );
        }
        let value = match value {
            // JSON has no NaN or infinity: keep what it was as text.
            Annotation::Float(number) if !number.is_finite() => {
                serde_json::Value::String(number.to_string())
            }
            value => serde_json::to_value(&value).unwrap_or(serde_json::Value::Null),
        };
        subsegment.put_metadata(&self.inner.service, key, value);
    }

    /// Adds an annotation to the innermost open subsegment of the current invocation: the
    /// enclosing `## ` span's, else the handler's. Returns `false` when nothing is recorded.
    pub fn put_annotation(&self, key: &str, value: impl Into<Annotation>) -> bool {
        crate::spans::with_current_subsegment(self, |tracer, state, subsegment| {
            tracer.annotate(state, subsegment, key, value.into());
        })
    }

    /// Adds metadata (under the service namespace) to the innermost open subsegment.
    pub fn put_metadata(&self, key: &str, value: serde_json::Value) -> bool {
        crate::spans::with_current_subsegment(self, |tracer, _state, subsegment| {
            subsegment.put_metadata(&tracer.inner.service, key, value);
        })
    }
}

/// Builds a [`Tracer`]: explicit values first, then the environment.
#[must_use]
#[derive(Default)]
pub struct TracerBuilder {
    env: Option<Env>,
    enabled: Option<bool>,
    service: Option<String>,
    handler_name: Option<String>,
    capture_response: Option<bool>,
    capture_error: Option<bool>,
    sink: Option<Arc<dyn SegmentSink>>,
    clock: Option<Arc<Clock>>,
}

impl std::fmt::Debug for TracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerBuilder").finish_non_exhaustive()
    }
}

impl TracerBuilder {
    /// Reads unset values from `env` instead of the process environment (tests).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Forces tracing on or off (else off when `POWERTOOLS_TRACE_DISABLED=true`, under
    /// `POWERTOOLS_DEV`, or outside Lambda).
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = Some(on);
        self
    }

    /// Sets the `Service` annotation and the metadata namespace (else
    /// `POWERTOOLS_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// Names the handler subsegment `## <name>` (else `_HANDLER`, else `handler`).
    pub fn handler_name(mut self, name: impl Into<String>) -> Self {
        self.handler_name = Some(name.into());
        self
    }

    /// Whether the handler's response is kept as metadata (else
    /// `POWERTOOLS_TRACER_CAPTURE_RESPONSE`, default true).
    pub fn capture_response(mut self, on: bool) -> Self {
        self.capture_response = Some(on);
        self
    }

    /// Whether the handler's error is kept as metadata (else
    /// `POWERTOOLS_TRACER_CAPTURE_ERROR`, default true).
    pub fn capture_error(mut self, on: bool) -> Self {
        self.capture_error = Some(on);
        self
    }

    /// Sends subsegments to `sink` instead of the daemon.
    pub fn sink(mut self, sink: impl SegmentSink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Reads the time from `clock` (tests).
    pub fn clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the tracer. Infallible: a malformed daemon address is reported once and the
    /// default used.
    pub fn build(self) -> Tracer {
        let env = self.env.unwrap_or_else(Env::from_env);
        let config = FunctionConfig::from_source(&env);
        let enabled = self.enabled.unwrap_or_else(|| {
            !env.bool("POWERTOOLS_TRACE_DISABLED").unwrap_or(false)
                && !config.dev_mode()
                && config.is_lambda()
        });
        let sink = self.sink.unwrap_or_else(|| {
            let daemon = env
                .string("AWS_XRAY_DAEMON_ADDRESS")
                .and_then(|raw| {
                    let parsed = parse_daemon_address(&raw);
                    if parsed.is_none() {
                        env.report(
                            "AWS_XRAY_DAEMON_ADDRESS",
                            &raw,
                            "host:port or tcp:host:port udp:host:port",
                        );
                    }
                    parsed
                })
                .or_else(|| parse_daemon_address(DEFAULT_DAEMON_ADDRESS))
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 2000)));
            Arc::new(UdpDaemonSink::new(daemon))
        });
        Tracer {
            inner: Arc::new(Inner {
                config: config.clone(),
                enabled,
                service: self
                    .service
                    .unwrap_or_else(|| config.service_name().to_owned()),
                handler_name: self
                    .handler_name
                    .or_else(|| env.string("_HANDLER"))
                    .unwrap_or_else(|| "handler".to_owned()),
                capture_response: self.capture_response.unwrap_or_else(|| {
                    env.bool("POWERTOOLS_TRACER_CAPTURE_RESPONSE")
                        .unwrap_or(true)
                }),
                capture_error: self
                    .capture_error
                    .unwrap_or_else(|| env.bool("POWERTOOLS_TRACER_CAPTURE_ERROR").unwrap_or(true)),
                sink,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                warned_malformed: AtomicBool::new(false),
                warned_annotations: AtomicBool::new(false),
            }),
        }
    }
}
