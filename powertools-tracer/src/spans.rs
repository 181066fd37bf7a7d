//! `tracing` spans named `## <name>` become nested X-Ray subsegments.

use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

use crate::segment::{Annotation, PANIC_TYPE, Subsegment};
use crate::state::{SpanSubsegment, TraceState};
use crate::tracer::Tracer;

/// The prefix that marks a span as a subsegment.
pub const SUBSEGMENT_PREFIX: &str = "## ";
/// The field-name prefix that makes a span field an annotation (the rest are metadata).
pub const ANNOTATION_PREFIX: &str = "annotation.";

/// Turns spans whose name starts with `## ` into subsegments (see the crate docs). Made by
/// [`Tracer::tracing_layer`], behind its [`SpanFilter`].
#[derive(Debug, Clone)]
pub struct SpanLayer {
    tracer: Tracer,
}

/// The span layer's own per-layer filter: it wants the spans named `## ...` (at any level) and
/// ERROR events (they mark the enclosing `## ` span `fault`), nothing else. Other spans and
/// events are left to the other layers of the subscriber: with none wanting them (the SDK's,
/// hyper's and h2's TRACE and DEBUG spans beside a logger at INFO), they are never created.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFilter;

impl SpanFilter {
    fn wants(metadata: &Metadata<'_>) -> bool {
        if metadata.is_span() {
            metadata.name().starts_with(SUBSEGMENT_PREFIX)
        } else {
            metadata.is_event() && *metadata.level() == Level::ERROR
        }
    }
}

impl<S> Filter<S> for SpanFilter {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: &Context<'_, S>) -> bool {
        Self::wants(metadata)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // A `## ` span may have any level.
        Some(LevelFilter::TRACE)
    }
}

impl Tracer {
    /// The `tracing` layer recording `## ` spans as subsegments, with its own per-layer filter
    /// ([`SpanFilter`]: `## ` spans and ERROR events only), so that beside it every other layer
    /// (the logger, OpenTelemetry, your own) keeps its own filter, and spans and events no layer
    /// wants are not created at all. Add it to a `tracing_subscriber::registry()`.
    pub fn tracing_layer<S>(&self) -> Filtered<SpanLayer, SpanFilter, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        SpanLayer {
            tracer: self.clone(),
        }
        .with_filter(SpanFilter)
    }
}

/// A span's fields, formatted (this runs the values' `Debug`/`Display`, user code that may
/// panic) before any lock on the span is taken, so that a panic there cannot poison it.
#[derive(Default)]
struct Fields(Vec<(&'static str, Option<Annotation>, serde_json::Value)>);

impl Fields {
    /// Adds the fields to `subsegment`: `annotation.<key>` fields with an annotation value as
    /// annotations, the others as metadata.
    fn apply(self, tracer: &Tracer, state: &TraceState, subsegment: &mut Subsegment) {
        for (name, annotation, metadata) in self.0 {
            match (name.strip_prefix(ANNOTATION_PREFIX), annotation) {
                (Some(key), Some(value)) => tracer.annotate(state, subsegment, key, value),
                (Some(key), None) => subsegment.put_metadata(tracer.service_name(), key, metadata),
                (None, _) => subsegment.put_metadata(tracer.service_name(), name, metadata),
            }
        }
    }

    fn put(&mut self, field: &Field, annotation: Option<Annotation>, metadata: serde_json::Value) {
        self.0.push((field.name(), annotation, metadata));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Some(value.into()), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Some(value.into()), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Some(value.into()), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let annotation =
            i64::try_from(value).map_or(Annotation::Float(value as f64), Annotation::Int);
        self.put(field, Some(annotation), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let annotation = value.is_finite().then_some(Annotation::Float(value));
        let metadata = serde_json::Number::from_f64(value)
            .map_or(serde_json::Value::Null, serde_json::Value::Number);
        self.put(field, annotation, metadata);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.put(field, Some(text.clone().into()), text.into());
    }
}

/// The message and error of an ERROR event.
#[derive(Default)]
struct Failure {
    message: Option<String>,
    error: Option<(String, String)>,
}

impl Visit for Failure {
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if field.name() == "error" || self.error.is_none() {
            let debug = format!("{value:?}");
            let kind: String = debug
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            self.error = Some((value.to_string(), kind));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let name = attrs.metadata().name();
        if !name.starts_with(SUBSEGMENT_PREFIX) {
            return;
        }
        let Some(state) = self.tracer.current_state() else {
            return;
        };
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .scope()
            .skip(1)
            .find_map(|ancestor| {
                ancestor
                    .extensions()
                    .get::<SpanSubsegment>()
                    .map(|s| s.subsegment.id.clone())
            })
            .or_else(|| state.default_parent());
        let mut subsegment = Subsegment::start(name, &state.trace_id, parent, self.tracer.now());
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        fields.apply(&self.tracer, &state, &mut subsegment);
        span.extensions_mut()
            .insert(SpanSubsegment { subsegment, state });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let state = match span.extensions().get::<SpanSubsegment>() {
            Some(open) => Arc::clone(&open.state),
            None => return,
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(open) = span.extensions_mut().get_mut::<SpanSubsegment>() {
            fields.apply(&self.tracer, &state, &mut open.subsegment);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if span.extensions().get::<SpanSubsegment>().is_none() {
                continue;
            }
            // Formatted before the span is locked (see `Fields`).
            let mut failure = Failure::default();
            event.record(&mut failure);
            let (message, kind) = match failure.error {
                Some((message, kind)) => (message, Some(kind).filter(|k| !k.is_empty())),
                None => (failure.message.unwrap_or_else(|| "error".to_owned()), None),
            };
            if let Some(open) = span.extensions_mut().get_mut::<SpanSubsegment>() {
                open.subsegment.record_exception(message, kind, true);
            }
            return;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let open = span.extensions_mut().remove::<SpanSubsegment>();
        if let Some(mut open) = open {
            if let Some(message) = powertools_core::panic_in_progress() {
                open.subsegment
                    .record_exception(message, Some(PANIC_TYPE.to_owned()), true);
            }
            self.tracer.send(&open.state, open.subsegment);
        }
    }
}
