//! The `tracing_subscriber::Layer` that writes Powertools JSON lines.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use powertools_core::Invocation;
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{EventSink, KeptFields, Visitor, keep_field};
use crate::render::{Location, Record, Scratch, flush, render, write_buffer_warning};
use crate::shared::Shared;
use crate::state::InvocationLog;
use crate::value::FieldValue;

/// Writes each `tracing` event as one Powertools JSON line (see the crate docs).
///
/// Made by [`Logger::tracing_layer`](crate::Logger::tracing_layer), behind its [`LogFilter`](crate::LogFilter); cheap to clone.
#[derive(Clone)]
pub struct LogLayer {
    shared: Arc<Shared>,
}

impl LogLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl std::fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLayer")
            .field("level", &self.shared.level)
            .finish_non_exhaustive()
    }
}

/// Fields of a span, kept in the span's extensions.
struct SpanFields(Vec<(&'static str, FieldValue<'static>)>);

thread_local! {
    /// Guards against a writer that logs: a nested event on the same thread is dropped rather
    /// than recursing.
    static WRITING: Cell<bool> = const { Cell::new(false) };
    /// Scratch buffers reused between lines on this thread.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<S> tracing_subscriber::Layer<S> for LogLayer
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
                    keep_field(fields, name, value);
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

impl LogLayer {
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
                            appended.add(key, value, &shared.names, &shared.redaction);
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
            // Held only inside an invocation: nothing is buffered during INIT.
            match (invocation.as_ref().zip(state.as_deref()), buffer) {
                (Some((_, state)), Some(config)) if scratch.out.len() <= config.capacity() => {
                    let pushed = state.hold(scratch.out.clone(), config.capacity());
                    if let Err(line) = pushed {
                        shared.write(&line);
                    }
                }
                (Some((invocation, state)), Some(config)) => {
                    // Never dropped silently: written now, after a warning saying why.
                    write_buffer_warning(
                        shared,
                        &format!(
                            "a log line of {} bytes is larger than the log buffer ({} bytes): written directly instead of buffered; increase the buffer's max_bytes to buffer it",
                            scratch.out.len(),
                            config.capacity()
                        ),
                        invocation,
                        state,
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
