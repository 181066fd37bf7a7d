//! The handler subsegment: `## <handler>` around each invocation.

use std::fmt::Display;
use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use powertools_core::{Invocation, InvocationHook, InvocationLayer, InvocationService, Panicked};
use serde::Serialize;

use crate::segment::{Annotation, PANIC_TYPE, Subsegment};
use crate::state::TraceState;
use crate::tracer::Tracer;

/// Wraps a handler: opens the invocation scope (re-entrant) and, when the invocation's trace
/// is recorded, the `## <handler>` subsegment with the `ColdStart` and `Service` annotations,
/// the response or error as metadata, and `fault` with a `cause` on error. A panicking handler
/// is recorded like an error (`fault`, its message in the `cause` with type `panic`), the
/// subsegments of the `## ` spans it was inside are closed and sent, then the panic goes on to
/// the caller (`lambda_runtime` reports it). Made by [`Tracer::layer`].
pub type TracerLayer = InvocationLayer<TracerHook>;

/// The service made by [`TracerLayer`].
pub type TracerService<S> = InvocationService<S, TracerHook>;

/// What [`TracerLayer`] does around each invocation: opens the `## <handler>` subsegment
/// before the handler runs and closes and sends it with the handler's outcome.
#[derive(Debug, Clone)]
pub struct TracerHook {
    tracer: Tracer,
}

impl Tracer {
    /// The tower layer for the handler (see [`TracerLayer`]). Its invocation scope carries
    /// the tracer's function configuration, so the scope's service name is the `Service`
    /// annotation's.
    pub fn layer(&self) -> TracerLayer {
        InvocationLayer::new(self.inner.config.clone()).hook(TracerHook {
            tracer: self.clone(),
        })
    }
}

/// What [`TracerHook`] keeps between the start and the end of one invocation: the trace it
/// records into, when it is recorded.
#[derive(Debug)]
pub struct TracerHookState(pub(crate) Option<Arc<TraceState>>);

/// How the handler ended.
pub(crate) enum Outcome<'a, R> {
    Response(&'a R),
    Error(String),
    Panic(&'a str),
}

impl TracerHook {
    /// Opens the handler subsegment of `invocation`, when its trace is recorded; `decorate`
    /// adds what the request tells (the `http` block of an HTTP request) before it is kept.
    pub(crate) fn open(
        &self,
        invocation: &Invocation,
        decorate: impl FnOnce(&Tracer, &TraceState, &mut Subsegment),
    ) -> Option<Arc<TraceState>> {
        let tracer = &self.tracer;
        let state = tracer.trace_state(invocation)?;
        let name = format!("## {}", tracer.inner.handler_name);
        let mut subsegment = Subsegment::start(
            &name,
            &state.trace_id,
            state.parent_id.clone(),
            tracer.now(),
        );
        let cold = Annotation::Bool(invocation.is_cold_start());
        tracer.annotate(&state, &mut subsegment, "ColdStart", cold);
        let service = Annotation::String(tracer.service_name().to_owned());
        tracer.annotate(&state, &mut subsegment, "Service", service);
        decorate(tracer, &state, &mut subsegment);
        state.with_handler(|handler| *handler = Some(subsegment));
        Some(state)
    }

    /// Closes and sends the open handler subsegment of `state` with the handler's outcome;
    /// `decorate` adds what the response tells (the `http` block's status) first.
    pub(crate) fn close<R: Serialize>(
        &self,
        state: &TraceState,
        outcome: Outcome<'_, R>,
        decorate: impl FnOnce(&mut Subsegment),
    ) {
        let Some(mut subsegment) = state.with_handler(Option::take) else {
            return;
        };
        decorate(&mut subsegment);
        let tracer = &self.tracer;
        let inner = &tracer.inner;
        let service = tracer.service_name();
        let handler = &inner.handler_name;
        let (message, kind) = match outcome {
            Outcome::Response(response) => {
                if inner.capture_response {
                    let value = serde_json::to_value(response).unwrap_or(serde_json::Value::Null);
                    subsegment.put_metadata(service, &format!("{handler} response"), value);
                }
                (None, None)
            }
            Outcome::Error(message) => (Some(message), None),
            Outcome::Panic(message) => (Some(message.to_owned()), Some(PANIC_TYPE.to_owned())),
        };
        if let Some(message) = message {
            if inner.capture_error {
                subsegment.put_metadata(
                    service,
                    &format!("{handler} error"),
                    message.clone().into(),
                );
            }
            subsegment.record_exception(message, kind, true);
        }
        tracer.send(state, subsegment);
        tracer.flush(state);
    }
}

impl<T, R, E> InvocationHook<LambdaEvent<T>, R, E> for TracerHook
where
    R: Serialize,
    E: Display,
{
    type Error = E;
    type State = TracerHookState;
    type Around<F>
        = F
    where
        F: Future<Output = Result<R, E>> + Send + 'static;

    fn start(&self, invocation: Option<&Invocation>, _event: &LambdaEvent<T>) -> Self::State {
        TracerHookState(invocation.and_then(|invocation| self.open(invocation, |_, _, _| {})))
    }

    fn around<F>(&self, _state: &mut Self::State, handler: F) -> F
    where
        F: Future<Output = Result<R, E>> + Send + 'static,
    {
        handler
    }

    fn finish(&self, state: Self::State, result: Result<R, E>) -> Result<R, E> {
        if let TracerHookState(Some(state)) = state {
            let outcome = match &result {
                Ok(response) => Outcome::Response(response),
                Err(error) => Outcome::Error(error.to_string()),
            };
            self.close(&state, outcome, |_| {});
        }
        result
    }

    fn panicked(&self, state: Self::State, panic: &Panicked) {
        // The handler's future was dropped already (inside `unwinding_from`): the `## ` spans
        // it held are closed, as faults with the panic's message, before this subsegment.
        if let TracerHookState(Some(state)) = state {
            self.close::<R>(&state, Outcome::Panic(panic.message()), |_| {});
        }
    }

    fn ready_error(&self, error: E) -> E {
        error
    }
}
