//! The handler subsegment: `## <handler>` around each invocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use pin_project_lite::pin_project;
use powertools_core::{CatchPanic, Invocation, InvocationLayer, InvocationService, catch_panic};
use serde::Serialize;
use tower::{Layer, Service};

use crate::segment::{Annotation, Subsegment};
use crate::spans::{PANIC_TYPE, unwinding_from};
use crate::tracer::{TraceState, Tracer};

/// Wraps a handler: opens the invocation scope (re-entrant) and, when the invocation's trace
/// is recorded, the `## <handler>` subsegment with the `ColdStart` and `Service` annotations,
/// the response or error as metadata, and `fault` with a `cause` on error. A panicking handler
/// is recorded like an error (`fault`, its message in the `cause` with type `panic`), the
/// subsegments of the `## ` spans it was inside are closed and sent, then the panic goes on to
/// the caller (`lambda_runtime` reports it). Made by [`Tracer::layer`].
#[derive(Debug, Clone)]
pub struct TracerLayer {
    tracer: Tracer,
    invocation: InvocationLayer,
}

impl Tracer {
    /// The tower layer for the handler (see [`TracerLayer`]).
    pub fn layer(&self) -> TracerLayer {
        TracerLayer {
            tracer: self.clone(),
            invocation: InvocationLayer::new(self.inner.config.clone()),
        }
    }
}

impl TracerLayer {
    /// Uses `flag` instead of the process-wide cold-start flag (tests).
    #[must_use]
    pub fn with_cold_start_flag(mut self, flag: Arc<powertools_core::ColdStart>) -> Self {
        self.invocation = self.invocation.with_cold_start_flag(flag);
        self
    }
}

impl<S> Layer<S> for TracerLayer {
    type Service = InvocationService<TracerService<S>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.invocation.layer(TracerService {
            inner,
            tracer: self.tracer.clone(),
        })
    }
}

/// The service inside [`TracerLayer`].
#[derive(Debug, Clone)]
pub struct TracerService<S> {
    inner: S,
    tracer: Tracer,
}

impl<S, T> Service<LambdaEvent<T>> for TracerService<S>
where
    S: Service<LambdaEvent<T>>,
    S::Response: Serialize,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TracerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let state = Invocation::current().and_then(|invocation| {
            let state = self.tracer.trace_state(&invocation)?;
            let name = format!("## {}", self.tracer.inner.handler_name);
            let mut subsegment = Subsegment::start(
                &name,
                &state.trace_id,
                state.parent_id.clone(),
                self.tracer.now(),
            );
            let service = self.tracer.inner.service.clone();
            self.tracer.annotate(
                &state,
                &mut subsegment,
                "ColdStart",
                Annotation::Bool(invocation.is_cold_start()),
            );
            self.tracer.annotate(
                &state,
                &mut subsegment,
                "Service",
                Annotation::String(service),
            );
            if let Ok(mut handler) = state.handler.lock() {
                *handler = Some(subsegment);
            }
            Some(state)
        });
        let inner = &mut self.inner;
        TracerFuture {
            inner: Some(catch_panic(|| inner.call(event))),
            tracer: self.tracer.clone(),
            state,
        }
    }
}

pin_project! {
    /// The future of [`TracerService`].
    #[derive(Debug)]
    pub struct TracerFuture<F> {
        // `None` once a panic was caught and the handler's future dropped.
        #[pin]
        inner: Option<CatchPanic<F>>,
        tracer: Tracer,
        state: Option<Arc<TraceState>>,
    }
}

/// How the handler ended.
enum Outcome<'a, R> {
    Response(&'a R),
    Error(String),
    Panic(&'a str),
}

impl Tracer {
    /// Closes and sends the open handler subsegment of `state` with the handler's outcome.
    fn close_handler<R: Serialize>(&self, state: &TraceState, outcome: Outcome<'_, R>) {
        let open = state
            .handler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut subsegment) = open else { return };
        let inner = &self.inner;
        let handler = &inner.handler_name;
        let (message, kind) = match outcome {
            Outcome::Response(response) => {
                if inner.capture_response {
                    let value = serde_json::to_value(response).unwrap_or(serde_json::Value::Null);
                    subsegment.put_metadata(&inner.service, &format!("{handler} response"), value);
                }
                (None, None)
            }
            Outcome::Error(message) => (Some(message), None),
            Outcome::Panic(message) => (Some(message.to_owned()), Some(PANIC_TYPE.to_owned())),
        };
        if let Some(message) = message {
            if inner.capture_error {
                subsegment.put_metadata(
                    &inner.service,
                    &format!("{handler} error"),
                    message.clone().into(),
                );
            }
            subsegment.record_exception(message, kind, true);
        }
        subsegment.end_time = Some(self.now());
        inner.sink.export(&subsegment);
    }
}

impl<F, R, E> Future for TracerFuture<F>
where
    F: Future<Output = Result<R, E>>,
    R: Serialize,
    E: std::fmt::Display,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            // Only after a panic, which was resumed: never polled again by a caller.
            return Poll::Pending;
        };
        let outcome = match inner.poll(cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => return Poll::Pending,
        };
        match outcome {
            Ok(result) => {
                if let Some(state) = this.state.take() {
                    let outcome = match &result {
                        Ok(response) => Outcome::Response(response),
                        Err(error) => Outcome::Error(error.to_string()),
                    };
                    this.tracer.close_handler(&state, outcome);
                }
                Poll::Ready(result)
            }
            Err(panicked) => {
                // Drop the handler's future now, so that the `## ` spans it holds close (as
                // faults, with the panic's message) before the handler subsegment does.
                unwinding_from(panicked.message(), || this.inner.set(None));
                if let Some(state) = this.state.take() {
                    this.tracer
                        .close_handler::<R>(&state, Outcome::Panic(panicked.message()));
                }
                panicked.resume()
            }
        }
    }
}
