//! Rendering one line: the standard keys in the specified order, then the appended keys;
//! and the lines of the logger's own (buffer warnings, a handler's panic).

use std::borrow::Cow;

use powertools_core::{Invocation, epoch_millis};
use tracing::Level;

use crate::appended::Appended;
use crate::format::{write_str, write_value};
use crate::keys::Key;
use crate::level::level_name;
use crate::shared::Shared;
use crate::state::{InvocationLog, lock};
use crate::time::write_rfc3339_millis;
use crate::value::{ErrorValue, FieldValue};
use powertools_core::scoped_correlation_id;

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
    pub(crate) fn clear(&mut self) {
        self.out.clear();
        self.appended.clear();
        self.message.clear();
        self.text.clear();
    }
}

/// Where a record comes from.
pub(crate) struct Location<'a> {
    pub(crate) module: &'a str,
    pub(crate) line: Option<u32>,
}

/// One record to render; its fields are already in the scratch's appended keys.
pub(crate) struct Record<'a> {
    pub(crate) level: Level,
    pub(crate) location: Location<'a>,
}

/// Writes the lines the invocation holds (oldest first), preceded by a warning if some were
/// evicted.
pub(crate) fn flush(shared: &Shared, state: &InvocationLog, invocation: &Invocation) {
    // Taken out under the buffer's lock, written after it is released: a slow or blocking
    // writer never holds up the invocation's other threads, and a writer that logs cannot
    // deadlock on the buffer.
    let (lines, evicted) = state.take_buffered();
    if evicted > 0 {
        write_buffer_warning(
            shared,
            &format!(
                "{evicted} buffered log line(s) were evicted from this invocation's log buffer: increase the buffer's max_bytes to keep more"
            ),
            invocation,
            state,
        );
    }
    for line in lines {
        shared.write(&line);
    }
}

/// Writes a WARN line about buffered lines the logger moved or lost, whatever its level.
pub(crate) fn write_buffer_warning(
    shared: &Shared,
    message: &str,
    invocation: &Invocation,
    state: &InvocationLog,
) {
    write_own(
        shared,
        Own::Always,
        Level::WARN,
        line!(),
        message,
        None,
        Some(invocation),
        Some(state),
    );
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
            &FieldValue::Error(Cow::Borrowed(error)),
            &shared.names,
            &shared.redaction,
        );
    }
    render(shared, &record, invocation, state, &mut scratch);
    shared.write(&scratch.out);
}

/// Logs a panic of the handler as an ERROR line of `invocation`.
pub(crate) fn write_panic(shared: &Shared, message: &str, invocation: Option<&Invocation>) {
    let state = invocation.map(InvocationLog::of);
    let error = ErrorValue::panic(message);
    write_own(
        shared,
        Own::AtLevel,
        Level::ERROR,
        line!(),
        &error.message,
        Some(&error),
        invocation,
        state.as_deref(),
    );
}

/// Renders `record` as one line (with its trailing newline) into `scratch.out`. The event's
/// fields (and its spans') are already in `scratch.appended`.
/// The values of standard keys that the function configuration fixes for the process,
/// written as JSON once rather than escaped on every line.
#[derive(Debug)]
pub(crate) struct ProcessValues {
    service: Vec<u8>,
    function_name: Option<Vec<u8>>,
    memory_size_mb: Option<Vec<u8>>,
}

impl ProcessValues {
    pub(crate) fn new(config: &powertools_core::FunctionConfig) -> Self {
        let string = |s: &str| {
            let mut out = Vec::with_capacity(s.len() + 2);
            write_str(&mut out, s);
            out
        };
        Self {
            service: string(config.service_name()),
            function_name: config.function_name().map(string),
            memory_size_mb: config
                .memory_size_mb()
                .map(|mb| mb.to_string().into_bytes()),
        }
    }
}

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
            appended.add(
                key,
                &FieldValue::Json(Cow::Borrowed(value)),
                names,
                redaction,
            );
        }
    }
    if let Ok(persistent) = shared.persistent.read() {
        for (key, value) in persistent.iter() {
            appended.add(
                key,
                &FieldValue::Json(Cow::Borrowed(value)),
                names,
                redaction,
            );
        }
    }

    let mut first = true;
    // Fields and appended keys named like a standard key were written as `extra_<name>`: the
    // standard keys are always the real ones.
    let mut key = |out: &mut Vec<u8>, key: Key| -> bool {
        let written = names.written(key);
        if written.is_empty() {
            return false;
        }
        out.push(if first { b'{' } else { b',' });
        first = false;
        out.extend_from_slice(written);
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
    let process = &shared.process_values;
    if key(out, Key::Service) {
        out.extend_from_slice(&process.service);
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
    if let Some(name) = &process.function_name
        && key(out, Key::FunctionName)
    {
        out.extend_from_slice(name);
    }
    if let Some(mb) = &process.memory_size_mb
        && key(out, Key::FunctionMemorySize)
    {
        out.extend_from_slice(mb);
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
    if let Some(id) = scoped_correlation_id() {
        if key(out, Key::CorrelationId) {
            write_str(out, &id);
        }
    } else if let Some(state) = state
        && let Some(id) = lock(&state.correlation_id).as_deref()
        && key(out, Key::CorrelationId)
    {
        write_str(out, id);
    }
    if shared.sample_rate > 0.0 && key(out, Key::SamplingRate) {
        write_value(out, &FieldValue::F64(shared.sample_rate), redaction);
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
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, &line);
    }
    out.push(b'"');
}

/// The slow path: the formatter hook and pretty output work on the line as a JSON object.
fn reformat(shared: &Shared, out: &mut Vec<u8>) {
    let Ok(mut map) = serde_json::from_slice::<crate::line::LogLine>(out) else {
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
