//! The `tracing_subscriber::Layer` that writes Powertools JSON lines.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use powertools_core::Invocation;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{
    ErrorValue, EventSink, FieldValue, KeptFields, MAX_STRING_BYTES, Visitor, cap_string,
};
use crate::format::{Appended, AppendedValue, Key, level_name, write_str, write_value};
use crate::logger::{Logger, Shared};
use crate::state::{InvocationLog, lock};
use crate::time::{epoch_millis, write_rfc3339_millis};

/// Writes each `tracing` event as one Powertools JSON line (see the crate docs).
///
/// Made by [`Logger::layer`], behind its [`LoggerFilter`]; cheap to clone.
#[derive(Clone)]
pub struct LoggerLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LoggerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerLayer")
            .field("level", &self.shared.level)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// The `tracing` layer writing this logger's lines, with the logger's level, sampling and
    /// buffering as its own per-layer filter: other layers of the subscriber (the X-Ray span
    /// layer, OpenTelemetry, your own) still see every span and event their own filters let
    /// through. Add it to a `tracing_subscriber::registry()`.
    pub fn layer<S>(&self) -> Filtered<LoggerLayer, LoggerFilter, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        LoggerLayer {
            shared: Arc::clone(&self.shared),
        }
        .with_filter(LoggerFilter {
            shared: Arc::clone(&self.shared),
        })
    }
}

/// Fields of a span, kept in the span's extensions.
struct SpanFields(Vec<(&'static str, FieldValue)>);

thread_local! {
    /// Guards against a writer that logs: a nested event on the same thread is dropped rather
    /// than recursing.
    static WRITING: Cell<bool> = const { Cell::new(false) };
    /// Scratch buffers reused between lines on this thread.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Buffers for building one line.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) out: Vec<u8>,
    pub(crate) appended: Appended,
    /// The message, already encoded as a JSON value; empty when there is none.
    pub(crate) message: Vec<u8>,
    pub(crate) text: String,
}

impl Scratch {
    fn clear(&mut self) {
        self.out.clear();
        self.appended.clear();
        self.message.clear();
        self.text.clear();
    }
}

/// Where a record comes from.
pub(crate) struct Location<'a> {
    module: &'a str,
    line: Option<u32>,
}

/// One record to render; its fields are already in the scratch's appended keys.
pub(crate) struct Record<'a> {
    pub(crate) level: Level,
    pub(crate) location: Location<'a>,
}

/// The logger's level, sampling and buffering decisions, as a per-layer filter: they decide
/// what the logger writes, never what other layers of the same subscriber see. Made by
/// [`Logger::layer`].
#[derive(Clone)]
pub struct LoggerFilter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LoggerFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerFilter")
            .field("level", &self.shared.level)
            .finish_non_exhaustive()
    }
}

impl LoggerFilter {
    /// Whether events at `level` may be written (or buffered) in some invocation, i.e. whether
    /// fields of spans at `level` may ever appear in a line.
    fn may_want(&self, level: Level) -> bool {
        let shared = &self.shared;
        level <= shared.level
            || (shared.sample_rate > 0.0 && level <= Level::DEBUG)
            || shared.buffer.as_ref().is_some_and(|b| level >= b.level())
    }

    /// The per-invocation part of `enabled`: sampling and buffering. A span opened in a sampled
    /// (or buffering) invocation lends its fields to that invocation's lines.
    fn wanted_now(&self, level: Level) -> bool {
        let shared = &self.shared;
        Invocation::with_current(|invocation| {
            if shared.buffer.as_ref().is_some_and(|b| level >= b.level()) {
                return true;
            }
            level <= Level::DEBUG
                && shared.sample_rate > 0.0
                && InvocationLog::of(invocation).sampled(shared.sample_rate)
        })
        .unwrap_or(false)
    }
}

impl<S> Filter<S> for LoggerFilter {
    // Spans and events alike: a span below what the logger could write in any invocation lends
    // no fields to its lines, so the logger does not keep them (the SDK's, hyper's and h2's
    // TRACE and DEBUG spans cost it nothing). This filter is the logger's own: other layers
    // still decide for themselves whether a span exists.
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        let level = *metadata.level();
        if level <= self.shared.level {
            Interest::always()
        } else if self.may_want(level) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: &Context<'_, S>) -> bool {
        let level = *metadata.level();
        level <= self.shared.level || (self.may_want(level) && self.wanted_now(level))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let shared = &self.shared;
        let mut hint = shared.level;
        if shared.sample_rate > 0.0 {
            hint = hint.max(LevelFilter::DEBUG);
        }
        if let Some(buffer) = &shared.buffer {
            hint = hint.max(LevelFilter::from_level(buffer.level()));
        }
        Some(hint)
    }
}

impl<S> tracing_subscriber::Layer<S> for LoggerLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // The runtime's own span repeats the request id and trace id under other names.
        if attrs.metadata().target().starts_with("lambda_runtime") || attrs.fields().is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = Visitor(KeptFields::new(&self.shared.redaction));
        attrs.record(&mut visitor);
        span.extensions_mut().insert(SpanFields(visitor.0.fields));
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = Visitor(KeptFields::new(&self.shared.redaction));
        values.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(SpanFields(fields)) => {
                for (name, value) in visitor.0.fields {
                    match fields.iter_mut().find(|(k, _)| *k == name) {
                        Some(slot) => slot.1 = value,
                        None => fields.push((name, value)),
                    }
                }
            }
            None => extensions.insert(SpanFields(visitor.0.fields)),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(_writing) = Writing::start() else {
            return;
        };
        self.handle_event(event, &ctx);
    }
}

/// This thread is writing a line: set by [`Writing::start`], cleared on drop, also when a
/// user's `Debug`/`Display` panics while the line is built (the runtime catches that panic and
/// the thread goes on serving: its later lines must still be written).
struct Writing;

impl Writing {
    /// `None` when this thread is already writing (a writer that logs) or is shutting down.
    fn start() -> Option<Self> {
        if WRITING.try_with(|w| w.replace(true)).unwrap_or(true) {
            None
        } else {
            Some(Self)
        }
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        let _ = WRITING.try_with(|w| w.set(false));
    }
}

impl LoggerLayer {
    fn handle_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let shared = &*self.shared;
        let metadata = event.metadata();
        let level = *metadata.level();
        let invocation = Invocation::current();
        let state = invocation.as_ref().map(InvocationLog::of);
        let sampled = match (&invocation, &state) {
            (Some(invocation), Some(state)) if shared.sample_rate > 0.0 => {
                state.sampled(shared.sample_rate)
            }
            _ => false,
        };
        let passes = level <= shared.level || (sampled && level <= Level::DEBUG);
        // "At or below" the buffer's level means as verbose or more: in tracing, more verbose
        // levels compare greater.
        let buffer = shared.buffer.as_ref().filter(|b| level >= b.level());
        let buffered = state.is_some() && buffer.is_some();
        if !passes && !buffered {
            return;
        }
        if level == Level::ERROR
            && let (Some(invocation), Some(state)) = (&invocation, &state)
            && shared
                .buffer
                .as_ref()
                .is_some_and(|b| b.flushes_on_error_log())
        {
            flush(shared, state, invocation);
        }

        let record = Record {
            level,
            location: Location {
                module: metadata.module_path().unwrap_or_else(|| metadata.target()),
                line: metadata.line(),
            },
        };
        with_scratch(|scratch| {
            let Scratch {
                appended,
                message,
                text,
                ..
            } = scratch;
            // Event fields first: they win over span and logger keys of the same name.
            event.record(&mut Visitor(EventSink {
                appended,
                message,
                text,
                names: &shared.names,
                redaction: &shared.redaction,
            }));
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                        for (key, value) in fields {
                            appended.add(
                                key,
                                AppendedValue::from_field(value),
                                &shared.names,
                                &shared.redaction,
                            );
                        }
                    }
                }
            }
            render(
                shared,
                &record,
                invocation.as_ref(),
                state.as_deref(),
                scratch,
            );
            match (buffered, &state, buffer) {
                (true, Some(state), Some(config)) if scratch.out.len() <= config.capacity() => {
                    let pushed = lock(&state.buffer).push(scratch.out.clone(), config.capacity());
                    if let Err(line) = pushed {
                        shared.write(&line);
                    }
                }
                (true, Some(state), Some(config)) => {
                    // Never dropped silently: written now, after a warning saying why.
                    write_own(
                        shared,
                        Own::Always,
                        Level::WARN,
                        line!(),
                        &format!(
                            "a log line of {} bytes is larger than the log buffer ({} bytes): written directly instead of buffered; increase the buffer's max_bytes to buffer it",
                            scratch.out.len(),
                            config.capacity()
                        ),
                        None,
                        invocation.as_ref(),
                        Some(state),
                    );
                    shared.write(&scratch.out);
                }
                _ => shared.write(&scratch.out),
            }
        });
    }
}

/// Runs `f` with this thread's reusable buffers, or fresh ones if they are in use or gone.
fn with_scratch(f: impl FnOnce(&mut Scratch)) {
    let mut f = Some(f);
    let _ = SCRATCH.try_with(|scratch| {
        if let (Ok(scratch), Some(f)) = (scratch.try_borrow_mut(), f.take()) {
            let mut scratch = Reset(scratch);
            f(&mut scratch.0);
        }
    });
    if let Some(f) = f {
        f(&mut Scratch::default());
    }
}

/// This thread's buffers while a line is built: emptied when the line is done, or when
/// building it panicked (nothing of a half-built line may reach the next one).
struct Reset<'a>(std::cell::RefMut<'a, Scratch>);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        let scratch = &mut *self.0;
        // Do not keep buffers that one huge line made large.
        if scratch.out.capacity() > 64 * 1024 || scratch.text.capacity() > 64 * 1024 {
            *scratch = Scratch::default();
        } else {
            scratch.clear();
        }
    }
}

/// Writes the lines the invocation holds (oldest first), preceded by a warning if some were
/// evicted.
pub(crate) fn flush(shared: &Shared, state: &InvocationLog, invocation: &Invocation) {
    let (lines, evicted) = lock(&state.buffer).take();
    if evicted > 0 {
        write_own(
            shared,
            Own::Always,
            Level::WARN,
            line!(),
            &format!(
                "{evicted} buffered log line(s) were evicted from this invocation's log buffer: increase the buffer's max_bytes to keep more"
            ),
            None,
            Some(invocation),
            Some(state),
        );
    }
    for line in lines {
        shared.write(&line);
    }
}

/// Whether a line of the logger's own obeys the logger's level.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Own {
    /// Written if its level passes the logger's level (the panic of a handler).
    AtLevel,
    /// Always written: a warning about lines the logger moved or lost (evicted from the
    /// buffer, too large for it). Those lines are written or gone whatever the level, and
    /// saying so must not depend on it.
    Always,
}

/// Writes a line of the logger's own (about the buffer, a panic) straight to the output, with
/// the invocation's keys (see [`Own`] for when).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_own(
    shared: &Shared,
    own: Own,
    level: Level,
    line: u32,
    message: &str,
    error: Option<&ErrorValue>,
    invocation: Option<&Invocation>,
    state: Option<&InvocationLog>,
) {
    if own == Own::AtLevel && level > shared.level {
        return;
    }
    let record = Record {
        level,
        location: Location {
            module: module_path!(),
            line: Some(line),
        },
    };
    let mut scratch = Scratch::default();
    write_str(&mut scratch.message, message);
    if let Some(error) = error {
        scratch.appended.add(
            "error",
            AppendedValue::Error(error),
            &shared.names,
            &shared.redaction,
        );
    }
    render(shared, &record, invocation, state, &mut scratch);
    shared.write(&scratch.out);
}

/// Logs a panic of the handler as an ERROR line of the current invocation.
pub(crate) fn write_panic(shared: &Shared, message: &str) {
    let invocation = Invocation::current();
    let state = invocation.as_ref().map(InvocationLog::of);
    let error = ErrorValue {
        name: "Panic".to_owned(),
        message: cap_string(message.to_owned(), MAX_STRING_BYTES),
        chain: Vec::new(),
    };
    write_own(
        shared,
        Own::AtLevel,
        Level::ERROR,
        line!(),
        &error.message,
        Some(&error),
        invocation.as_ref(),
        state.as_deref(),
    );
}

/// Renders `record` as one line (with its trailing newline) into `scratch.out`. The event's
/// fields (and its spans') are already in `scratch.appended`.
pub(crate) fn render(
    shared: &Shared,
    record: &Record<'_>,
    invocation: Option<&Invocation>,
    state: Option<&InvocationLog>,
    scratch: &mut Scratch,
) {
    let names = &shared.names;
    let redaction = &shared.redaction;
    let Scratch {
        out,
        appended,
        message,
        ..
    } = scratch;
    // Then the invocation's keys, then the logger's: the most specific source wins.
    if let Some(state) = state {
        for (key, value) in lock(&state.keys).iter() {
            appended.add(key, AppendedValue::Json(value), names, redaction);
        }
    }
    if let Ok(persistent) = shared.persistent.read() {
        for (key, value) in persistent.iter() {
            appended.add(key, AppendedValue::Json(value), names, redaction);
        }
    }

    let mut first = true;
    // Fields and appended keys named like a standard key were written as `extra_<name>`: the
    // standard keys are always the real ones.
    let mut key = |out: &mut Vec<u8>, key: Key| -> bool {
        let name = names.get(key);
        if name.is_empty() {
            return false;
        }
        out.push(if first { b'{' } else { b',' });
        first = false;
        write_str(out, name);
        out.push(b':');
        true
    };
    if key(out, Key::Level) {
        write_str(out, level_name(record.level));
    }
    if key(out, Key::Location) {
        write_location(out, &record.location);
    }
    if !message.is_empty() && key(out, Key::Message) {
        out.extend_from_slice(message);
    }
    if key(out, Key::Timestamp) {
        out.push(b'"');
        write_rfc3339_millis(out, epoch_millis(shared.now()));
        out.push(b'"');
    }
    let config = &shared.config;
    if key(out, Key::Service) {
        write_str(out, config.service_name());
    }
    if let Some(invocation) = invocation
        && key(out, Key::ColdStart)
    {
        out.extend_from_slice(if invocation.is_cold_start() {
            b"true"
        } else {
            b"false"
        });
    }
    if let Some(name) = config.function_name()
        && key(out, Key::FunctionName)
    {
        write_str(out, name);
    }
    if let Some(mb) = config.memory_size_mb()
        && key(out, Key::FunctionMemorySize)
    {
        write_value(out, AppendedValue::U64(u64::from(mb)), redaction);
    }
    if let Some(invocation) = invocation {
        if !invocation.function_arn().is_empty() && key(out, Key::FunctionArn) {
            write_str(out, invocation.function_arn());
        }
        if key(out, Key::FunctionRequestId) {
            write_str(out, invocation.request_id());
        }
        if let Some(tenant) = invocation.tenant_id()
            && key(out, Key::TenantId)
        {
            write_str(out, tenant);
        }
        if let Some(trace_id) = invocation.xray_trace_id()
            && key(out, Key::XrayTraceId)
        {
            write_str(out, trace_id);
        }
    }
    if let Some(state) = state
        && let Some(id) = lock(&state.correlation_id).as_deref()
        && key(out, Key::CorrelationId)
    {
        write_str(out, id);
    }
    if shared.sample_rate > 0.0 && key(out, Key::SamplingRate) {
        write_value(out, AppendedValue::F64(shared.sample_rate), redaction);
    }
    if first {
        out.push(b'{');
    }
    out.extend_from_slice(&appended.out);
    out.push(b'}');

    if shared.formatter.is_some() || shared.pretty {
        reformat(shared, out);
    }
    out.push(b'\n');
}

/// Writes `"module::path:line"`, escaping only when the path needs it.
fn write_location(out: &mut Vec<u8>, location: &Location<'_>) {
    let plain = location
        .module
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(location.module.as_bytes());
    } else {
        write_str(out, location.module);
        out.pop();
    }
    if let Some(line) = location.line {
        use std::io::Write as _;
        let _ = write!(out, ":{line}");
    }
    out.push(b'"');
}

/// The slow path: the formatter hook and pretty output work on the line as a JSON object.
fn reformat(shared: &Shared, out: &mut Vec<u8>) {
    let Ok(mut map) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(out)
    else {
        return;
    };
    if let Some(formatter) = &shared.formatter {
        formatter(&mut map);
    }
    let mut rendered = Vec::with_capacity(out.len() + 64);
    let written = if shared.pretty {
        serde_json::to_writer_pretty(&mut rendered, &map)
    } else {
        serde_json::to_writer(&mut rendered, &map)
    };
    if written.is_ok() {
        *out = rendered;
    }
}
