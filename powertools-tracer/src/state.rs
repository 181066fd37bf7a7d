//! The per-invocation trace state, and the open subsegments the `## ` spans keep in their
//! extensions: what the handler hook, the span layer and the SDK interceptor share. Imports
//! neither the tracer nor the span layer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tracing_subscriber::registry::LookupSpan;

use crate::segment::Subsegment;

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
    /// The invocation's request id, function ARN and deadline (what a batching sink reports).
    pub(crate) request_id: String,
    pub(crate) function_arn: String,
    pub(crate) deadline: SystemTime,
    /// The finished subsegments a batching sink takes at the end of the invocation.
    pending: Mutex<Vec<Subsegment>>,
    /// Whether the end of the invocation was exported already.
    flushed: AtomicBool,
}

impl TraceState {
    /// The state of a recorded trace with root `trace_id` under the segment `parent_id`.
    pub(crate) fn new(trace_id: String, parent_id: Option<String>) -> Self {
        Self {
            trace_id,
            parent_id,
            handler: Mutex::new(None),
            annotations: AtomicUsize::new(0),
            request_id: String::new(),
            function_arn: String::new(),
            deadline: SystemTime::UNIX_EPOCH,
            pending: Mutex::new(Vec::new()),
            flushed: AtomicBool::new(false),
        }
    }

    /// With the invocation's request id, function ARN and deadline.
    pub(crate) fn for_invocation(
        mut self,
        request_id: &str,
        function_arn: &str,
        deadline: SystemTime,
    ) -> Self {
        self.request_id = request_id.to_owned();
        self.function_arn = function_arn.to_owned();
        self.deadline = deadline;
        self
    }

    /// Keeps a finished subsegment for the end of the invocation; gives it back when that end
    /// was exported already (a span outliving its handler), so that it is sent on its own and
    /// never joins another invocation's batch.
    pub(crate) fn keep(&self, subsegment: Subsegment) -> Option<Subsegment> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if self.flushed.load(Ordering::Acquire) {
            return Some(subsegment);
        }
        pending.push(subsegment);
        None
    }

    /// Takes the kept subsegments once there are `max` of them (exported early, so that a long
    /// invocation with many spans does not hold them all).
    pub(crate) fn take_if_full(&self, max: usize) -> Option<Vec<Subsegment>> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        (pending.len() >= max).then(|| std::mem::take(&mut *pending))
    }

    /// Takes the kept subsegments and marks the invocation's end as exported.
    pub(crate) fn take_pending(&self) -> Vec<Subsegment> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.flushed.store(true, Ordering::Release);
        std::mem::take(&mut pending)
    }

    /// The parent for a new subsegment when no enclosing one is known.
    pub(crate) fn default_parent(&self) -> Option<String> {
        self.with_handler(|handler| handler.as_ref().map(|s| s.id.clone()))
            .or_else(|| self.parent_id.clone())
    }

    /// Runs `f` on the handler subsegment's slot (a poisoned lock is still used: the
    /// subsegment is plain data).
    pub(crate) fn with_handler<R>(&self, f: impl FnOnce(&mut Option<Subsegment>) -> R) -> R {
        let mut handler = self.handler.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut handler)
    }

    /// Whether one more annotation fits in the trace.
    pub(crate) fn take_annotation_slot(&self) -> bool {
        self.annotations.fetch_add(1, Ordering::Relaxed) < MAX_ANNOTATIONS
    }
}

/// A span's open subsegment, in the span's extensions.
pub(crate) struct SpanSubsegment {
    pub(crate) subsegment: Subsegment,
    pub(crate) state: Arc<TraceState>,
}

/// Calls `f` with the nearest enclosing span's open subsegment, if any.
pub(crate) fn innermost_span<R>(f: impl FnOnce(&mut SpanSubsegment) -> R) -> Option<R> {
    let current = tracing::Span::current();
    let id = current.id()?;
    let mut f = Some(f);
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(&id)?;
        for ancestor in span.scope() {
            let mut extensions = ancestor.extensions_mut();
            if let Some(open) = extensions.get_mut::<SpanSubsegment>() {
                return f.take().map(|f| f(open));
            }
        }
        None
    })
}
