//! The tracer: configuration, the per-invocation trace decision, and the handle users keep.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use powertools_core::{
    Clock, CommonConfig, ConfigError, Env, FunctionConfig, Invocation, TraceContext,
};

use crate::segment::{Annotation, MAX_ANNOTATION_CHARS, Subsegment, epoch_seconds, truncate_chars};
use crate::sink::{InvocationSpans, SegmentSink, UdpDaemonSink, parse_daemon_address};
use crate::state::{MAX_ANNOTATIONS, TraceState, innermost_span};

/// A batching sink gets an invocation's subsegments early once this many are waiting.
const MAX_PENDING: usize = 512;

/// The per-invocation decision, in the invocation's extensions.
#[derive(Debug)]
struct Decision(Option<Arc<TraceState>>);

pub(crate) struct Inner {
    /// The function configuration, carrying the resolved service name.
    pub(crate) config: FunctionConfig,
    pub(crate) enabled: bool,
    pub(crate) handler_name: String,
    pub(crate) capture_response: bool,
    pub(crate) capture_error: bool,
    pub(crate) sink: Arc<dyn SegmentSink>,
    clock: Clock,
    warned_malformed: AtomicBool,
    warned_annotations: AtomicBool,
}

/// The tracer: a cheap handle (an `Arc`). Build it once at INIT; hand out its
/// [`layer`](Tracer::layer) for the handler, its [`tracing_layer`](Tracer::tracing_layer) for the
/// subscriber, and (feature `aws-sdk`) its interceptor for SDK clients.
///
/// ```no_run
/// use lambda_runtime::{Error, LambdaEvent, service_fn};
/// use powertools_tracer::Tracer;
/// use serde_json::Value;
/// use tower::ServiceBuilder;
/// use tracing::Instrument as _;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     // A subsegment of the handler's, annotated for X-Ray search.
///     async { /* save the order */ }
///         .instrument(tracing::info_span!("## save_order", annotation.order_id = "o-1"))
///         .await;
///     Ok(event.payload)
/// }
///
/// # async fn example() -> Result<(), Error> {
/// let tracer = Tracer::builder().handler_name("orders").build()?; // the `## orders` subsegment
/// let subscriber = tracing_subscriber::registry().with(tracer.tracing_layer());
/// tracing::subscriber::set_global_default(subscriber)?;
/// let service = ServiceBuilder::new()
///     .layer(tracer.layer())
///     .service(service_fn(handler));
/// lambda_runtime::run(service).await
/// # }
/// ```
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("enabled", &self.inner.enabled)
            .field("service", &self.service_name())
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
    /// `AWS_XRAY_DAEMON_ADDRESS`. Never fails: what the environment gets wrong is reported
    /// once on stderr and replaced by the default.
    pub fn from_env() -> Self {
        let builder = TracerBuilder::default();
        match builder.common.resolve() {
            Ok(common) => builder.assemble(
                common.env().clone(),
                common.function_config().clone(),
                common.clock().clone(),
            ),
            // Only explicit values can fail; a default builder has none.
            Err(error) => {
                powertools_core::warn(format_args!(
                    "tracer configuration refused ({error}); using defaults"
                ));
                let env = Env::from_env();
                let config = FunctionConfig::from_source(&env);
                builder.assemble(env, config, Clock::system())
            }
        }
    }

    /// The service name: the `Service` annotation and the metadata namespace, the same as the
    /// invocation scope's (`FunctionConfig::service_name`).
    pub fn service_name(&self) -> &str {
        self.inner.config.service_name()
    }

    /// Whether the tracer records anything at all (see the crate docs for when it is off).
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    pub(crate) fn now(&self) -> f64 {
        epoch_seconds(self.inner.clock.now())
    }

    /// The trace state of `invocation`, when its trace is recorded (decided once per
    /// invocation): enabled, a valid header, `Sampled=1`.
    pub(crate) fn trace_state(&self, invocation: &Invocation) -> Option<Arc<TraceState>> {
        if !self.inner.enabled {
            return None;
        }
        let decision = invocation.extensions().get_or_insert_with(|| {
            Decision(match invocation.trace() {
                TraceContext::Valid(header) if header.is_sampled() => Some(Arc::new(
                    TraceState::new(header.root().to_owned(), header.parent().map(str::to_owned))
                        .for_invocation(
                            invocation.request_id(),
                            invocation.function_arn(),
                            invocation.deadline(),
                        ),
                )),
                TraceContext::Malformed { raw, error } => {
                    if !self.inner.warned_malformed.swap(true, Ordering::Relaxed) {
                        powertools_core::warn(format_args!(
"X-Ray trace header {raw:?} is malformed ({error}): tracing is off for that invocation (warned once)"
));
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
            powertools_core::warn(format_args!(
                "annotation {key:?} kept as metadata: keys are 1 to 500 of [A-Za-z0-9_], values strings, finite numbers or booleans, at most {MAX_ANNOTATIONS} per trace (warned once)"
            ));
        }
        let value = match value {
            // JSON has no NaN or infinity: keep what it was as text.
            Annotation::Float(number) if !number.is_finite() => {
                serde_json::Value::String(number.to_string())
            }
            value => serde_json::to_value(&value).unwrap_or(serde_json::Value::Null),
        };
        subsegment.put_metadata(self.service_name(), key, value);
    }

    /// Adds an annotation to the innermost open subsegment of the current invocation: the
    /// enclosing `## ` span's, else the handler's. Returns `false` when nothing is recorded.
    pub fn put_annotation(&self, key: &str, value: impl Into<Annotation>) -> bool {
        let value = value.into();
        self.with_current_subsegment(|tracer, state, subsegment| {
            tracer.annotate(state, subsegment, key, value);
        })
    }

    /// Adds metadata (under the service namespace) to the innermost open subsegment.
    pub fn put_metadata(&self, key: &str, value: serde_json::Value) -> bool {
        self.with_current_subsegment(|tracer, _state, subsegment| {
            subsegment.put_metadata(tracer.service_name(), key, value);
        })
    }

    /// Runs `f` on the innermost open subsegment of the current context: the nearest `## `
    /// span around the caller (found through the `tracing` registry), else the invocation's
    /// handler subsegment. Returns whether there was one.
    fn with_current_subsegment(
        &self,
        f: impl FnOnce(&Tracer, &TraceState, &mut Subsegment),
    ) -> bool {
        let Some(state) = self.current_state() else {
            return false;
        };
        let mut f = Some(f);
        let in_span = innermost_span(|open| {
            if let Some(f) = f.take() {
                let state = Arc::clone(&open.state);
                f(self, &state, &mut open.subsegment);
            }
        });
        if in_span.is_some() {
            return true;
        }
        state.with_handler(|handler| match (handler.as_mut(), f.take()) {
            (Some(subsegment), Some(f)) => {
                f(self, &state, subsegment);
                true
            }
            _ => false,
        })
    }

    /// Ends `subsegment` now and sends it: at once, or, to a sink that takes an invocation's
    /// subsegments together, at the end of the invocation of `state`.
    pub(crate) fn send(&self, state: &TraceState, mut subsegment: Subsegment) {
        subsegment.end_time = Some(self.now());
        let sink = &self.inner.sink;
        if !sink.batches() {
            sink.export(&subsegment);
        } else if let Some(late) = state.keep(subsegment) {
            sink.export_invocation(&InvocationSpans::of(state, std::slice::from_ref(&late)));
        } else if let Some(full) = state.take_if_full(MAX_PENDING) {
            sink.export_invocation(&InvocationSpans::of(state, &full));
        }
    }

    /// The end of the invocation of `state`: a batching sink exports what was kept.
    pub(crate) fn flush(&self, state: &TraceState) {
        let sink = &self.inner.sink;
        if sink.batches() {
            let pending = state.take_pending();
            if !pending.is_empty() {
                sink.export_invocation(&InvocationSpans::of(state, &pending));
            }
        }
    }
}

/// The OTLP sink, when an endpoint is configured (the builder's, else the environment's); one
/// that cannot be used is reported and X-Ray over UDP used instead.
#[cfg(feature = "otel")]
fn otlp_sink(
    options: OtlpOptions,
    env: &Env,
    config: &FunctionConfig,
) -> Option<Arc<dyn SegmentSink>> {
    let endpoint = options
        .endpoint
        .or_else(|| crate::otlp::endpoint_from_env(env))?;
    let timeout = options
        .timeout
        .unwrap_or_else(|| crate::otlp::timeout_from_env(env));
    // service.name: the Powertools service name, else OTEL_SERVICE_NAME, else the function's.
    let service = Some(config.service_name())
        .filter(|name| *name != powertools_core::DEFAULT_SERVICE_NAME)
        .map(str::to_owned)
        .or_else(|| env.string("OTEL_SERVICE_NAME"))
        .or_else(|| config.function_name().map(str::to_owned))
        .unwrap_or_else(|| config.service_name().to_owned());
    // The environment's headers, then the builder's (which win).
    let mut headers = crate::otlp::headers_from_env(env);
    headers.extend(options.headers);
    let otlp = crate::otlp::OtlpConfig {
        endpoint,
        timeout,
        trigger: options.trigger,
        headers,
        transport: options.transport,
    };
    match crate::otlp::OtlpSink::new(otlp, config, &service) {
        Ok(sink) => Some(Arc::new(sink)),
        Err(reason) => {
            powertools_core::warn(format_args!(
                "{reason}: sending X-Ray subsegments to the daemon instead"
            ));
            None
        }
    }
}

/// The daemon's address from `AWS_XRAY_DAEMON_ADDRESS`; a value that cannot be parsed is
/// reported and the default (`127.0.0.1:2000`) used.
fn daemon_address(env: &Env) -> SocketAddr {
    env.string("AWS_XRAY_DAEMON_ADDRESS")
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
        .unwrap_or(DEFAULT_DAEMON)
}

/// [`DEFAULT_DAEMON_ADDRESS`](crate::DEFAULT_DAEMON_ADDRESS) as an address.
const DEFAULT_DAEMON: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 2000);

/// Builds a [`Tracer`]: explicit values first, then the environment.
///
/// The service name (the `Service` annotation and the metadata namespace) is resolved like
/// every utility's, through `powertools_core::CommonConfig`: the explicit name, else the
/// explicit function configuration's, else `POWERTOOLS_SERVICE_NAME`, else
/// `service_undefined`. [`Tracer::layer`] opens the invocation scope with the same name.
///
/// ```
/// use powertools_core::Env;
/// use powertools_tracer::{InMemorySink, Tracer};
///
/// let sink = InMemorySink::new();
/// let tracer = Tracer::builder()
///     .env(Env::from_pairs([("POWERTOOLS_SERVICE_NAME", "orders")]))
///     .service_name("payments")
///     .enabled(true)
///     .sink(sink.clone())
///     .build()
///     .expect("a non-empty service name");
/// assert_eq!(tracer.service_name(), "payments");
/// assert!(tracer.is_enabled());
///
/// // Only explicit values can be refused.
/// assert!(Tracer::builder().service_name(" ").build().is_err());
/// ```
#[must_use]
#[derive(Default)]
pub struct TracerBuilder {
    common: CommonConfig,
    enabled: Option<bool>,
    handler_name: Option<String>,
    capture_response: Option<bool>,
    capture_error: Option<bool>,
    sink: Option<Arc<dyn SegmentSink>>,
    #[cfg(feature = "otel")]
    otlp: OtlpOptions,
}

/// What the builder was told about OTLP.
#[cfg(feature = "otel")]
#[derive(Default)]
struct OtlpOptions {
    endpoint: Option<String>,
    timeout: Option<std::time::Duration>,
    trigger: Option<String>,
    headers: Vec<(String, String)>,
    transport: Option<Arc<dyn crate::OtlpTransport>>,
}

impl std::fmt::Debug for TracerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerBuilder")
            .field("common", &self.common)
            .finish_non_exhaustive()
    }
}

impl TracerBuilder {
    powertools_core::common_setters!(common);

    /// Forces tracing on or off (else off when `POWERTOOLS_TRACE_DISABLED=true`, under
    /// `POWERTOOLS_DEV`, or outside Lambda).
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = Some(on);
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

    /// Exports spans over OTLP (HTTP/protobuf) to `endpoint`, the full traces URL
    /// (`http://localhost:4318/v1/traces`), instead of X-Ray subsegments to the daemon. Else
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `/v1/traces`; with neither, X-Ray over UDP.
    #[cfg(feature = "otel")]
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp.endpoint = Some(endpoint.into());
        self
    }

    /// The most an invocation's OTLP export may take (else `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`
    /// or `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds, else 500 ms); it also stops 100 ms
    /// before the invocation's deadline.
    #[cfg(feature = "otel")]
    pub fn otlp_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.otlp.timeout = Some(timeout);
        self
    }

    /// Adds a header to every OTLP request (an API key, say), beating the same header from
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or `OTEL_EXPORTER_OTLP_HEADERS`. Header values
    /// are never shown in messages or `Debug` output.
    #[cfg(feature = "otel")]
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the OTLP requests through `transport` instead of the built-in plain-HTTP client:
    /// for an `https://` endpoint, or one that needs signing (X-Ray's OTLP endpoint, SigV4).
    /// An endpoint is still needed ([`otlp_endpoint`](Self::otlp_endpoint) or the environment).
    #[cfg(feature = "otel")]
    pub fn otlp_transport(mut self, transport: impl crate::OtlpTransport) -> Self {
        self.otlp.transport = Some(Arc::new(transport));
        self
    }

    /// The handler span's `faas.trigger` (`http`, `pubsub`, `datasource`, `timer`, `other`;
    /// by default `http` for a request through the `http` hook, else `other`).
    #[cfg(feature = "otel")]
    pub fn faas_trigger(mut self, trigger: impl Into<String>) -> Self {
        self.otlp.trigger = Some(trigger.into());
        self
    }

    /// Builds the tracer. Fails only on an explicit empty service name; what the
    /// environment gets wrong (a malformed daemon address, say) is reported once and the
    /// default used.
    pub fn build(self) -> Result<Tracer, ConfigError> {
        let common = self.common.resolve()?;
        Ok(self.assemble(
            common.env().clone(),
            common.function_config().clone(),
            common.clock().clone(),
        ))
    }

    /// The tracer from the resolved common configuration.
    fn assemble(self, env: Env, config: FunctionConfig, clock: Clock) -> Tracer {
        let enabled = self.enabled.unwrap_or_else(|| {
            !env.bool("POWERTOOLS_TRACE_DISABLED").unwrap_or(false)
                && !config.dev_mode()
                && config.is_lambda()
        });
        #[cfg(feature = "otel")]
        let sink = self.sink.or_else(|| otlp_sink(self.otlp, &env, &config));
        #[cfg(not(feature = "otel"))]
        let sink = self.sink;
        let sink = sink.unwrap_or_else(|| Arc::new(UdpDaemonSink::new(daemon_address(&env))));
        Tracer {
            inner: Arc::new(Inner {
                enabled,
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
                clock,
                config,
                warned_malformed: AtomicBool::new(false),
                warned_annotations: AtomicBool::new(false),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use powertools_core::Malformed;
    use proptest::prelude::*;

    use super::*;

    /// Every variable the tracer reads, itself or through `FunctionConfig`.
    const VARIABLES: [&str; 8] = [
        "POWERTOOLS_TRACE_DISABLED",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "POWERTOOLS_TRACER_CAPTURE_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS",
        "_HANDLER",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_DEV",
        "AWS_LAMBDA_FUNCTION_NAME",
    ];

    /// Anything an environment variable may hold.
    fn raw_value() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            Just(String::new()),
            Just("   ".to_owned()),
            Just("18446744073709551615".to_owned()),
            Just("-1".to_owned()),
            Just("true".to_owned()),
            Just(" FALSE ".to_owned()),
            Just("yes".to_owned()),
            Just("0".to_owned()),
            "[ -~]{0,30}",
            "\\PC{0,40}",
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            // Daemon addresses, including ports past 65535 and the two-address form.
            (any::<[u8; 4]>(), any::<u64>())
                .prop_map(|(ip, port)| format!("{}:{port}", Ipv4Addr::from(ip))),
            (any::<[u8; 4]>(), 0u64..70_000).prop_map(|(ip, port)| format!(
                "tcp:127.0.0.1:2000 udp:{}:{port}",
                Ipv4Addr::from(ip)
            )),
            (0u64..70_000).prop_map(|port| format!("[::1]:{port}")),
        ])
    }

    fn expected_bool(value: Option<&String>) -> Option<bool> {
        match value?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" => Some(true),
            "false" | "0" | "no" | "n" | "off" => Some(false),
            _ => None,
        }
    }

    fn non_blank(value: Option<&String>) -> Option<&str> {
        value.map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random values in every variable: building never panics, and each setting is the
        /// value when it is valid, else the default (with a report).
        #[test]
        fn from_env_never_panics_and_falls_back(values in proptest::collection::vec(raw_value(), 8)) {
            let pairs: Vec<(&str, String)> = VARIABLES
                .iter()
                .zip(&values)
                .filter_map(|(key, value)| value.clone().map(|v| (*key, v)))
                .collect();
            let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
            let reports: Arc<Mutex<Vec<Malformed>>> = Arc::default();
            let seen = Arc::clone(&reports);
            let env = Env::from_pairs(pairs.clone()).with_reporter(move |m| {
                seen.lock().unwrap().push(m.clone());
            });
            let daemon = daemon_address(&env);
            let tracer = Tracer::builder().env(env.clone()).build().unwrap();
            let inner = &tracer.inner;

            let in_lambda = non_blank(get("AWS_LAMBDA_FUNCTION_NAME")).is_some();
            let disabled = expected_bool(get("POWERTOOLS_TRACE_DISABLED")).unwrap_or(false);
            let dev = FunctionConfig::from_source(&env).dev_mode();
            prop_assert_eq!(tracer.is_enabled(), in_lambda && !disabled && !dev);
            prop_assert_eq!(
                inner.capture_response,
                expected_bool(get("POWERTOOLS_TRACER_CAPTURE_RESPONSE")).unwrap_or(true)
            );
            prop_assert_eq!(
                inner.capture_error,
                expected_bool(get("POWERTOOLS_TRACER_CAPTURE_ERROR")).unwrap_or(true)
            );
            prop_assert_eq!(
                inner.handler_name.as_str(),
                non_blank(get("_HANDLER")).unwrap_or("handler")
            );
            prop_assert_eq!(
                tracer.service_name(),
                non_blank(get("POWERTOOLS_SERVICE_NAME")).unwrap_or("service_undefined")
            );

            // The daemon: the value's address when it parses, else the default and a report.
            let reported = |key: &str| {
                reports.lock().unwrap().iter().any(|m| m.key == key)
            };
            match non_blank(get("AWS_XRAY_DAEMON_ADDRESS")) {
                None => prop_assert_eq!(daemon, DEFAULT_DAEMON),
                Some(raw) => match parse_daemon_address(raw) {
                    Some(parsed) => {
                        prop_assert_eq!(daemon, parsed);
                        prop_assert!(!reported("AWS_XRAY_DAEMON_ADDRESS"));
                    }
                    None => {
                        prop_assert_eq!(daemon, DEFAULT_DAEMON);
                        prop_assert!(reported("AWS_XRAY_DAEMON_ADDRESS"));
                    }
                },
            }
            // A port past 65535 is never accepted.
            if let Some(port) = get("AWS_XRAY_DAEMON_ADDRESS")
                .and_then(|raw| raw.rsplit_once(':'))
                .and_then(|(_, port)| port.trim().parse::<u64>().ok())
                .filter(|port| *port > 65_535)
            {
                prop_assert_eq!(daemon, DEFAULT_DAEMON, "port {}", port);
            }
            for key in ["POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
                        "POWERTOOLS_TRACER_CAPTURE_ERROR"] {
                let malformed = non_blank(get(key)).is_some() && expected_bool(get(key)).is_none();
                prop_assert_eq!(reported(key), malformed, "{}", key);
            }
        }

        /// IPv4 addresses with any port: the address when the port fits in 16 bits, else none.
        #[test]
        fn daemon_ports_past_65535_are_refused(ip in any::<[u8; 4]>(), port in any::<u64>()) {
            let ip = Ipv4Addr::from(ip);
            let expected = u16::try_from(port).ok().map(|p| SocketAddr::new(IpAddr::V4(ip), p));
            prop_assert_eq!(parse_daemon_address(&format!("{ip}:{port}")), expected);
            prop_assert_eq!(
                parse_daemon_address(&format!("tcp:{ip}:1 udp:{ip}:{port}")),
                expected
            );
        }
    }
}
