//! The handler subsegment: `## <handler>` around each invocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use pin_project_lite::pin_project;
use powertools_core::{Invocation, InvocationLayer, InvocationService};
use serde::Serialize;
use tower::{Layer, Service};

use crate::segment::{Annotation, Subsegment};
use crate::tracer::{TraceState, Tracer};

/// Wraps a handler: opens the invocation scope (re-entrant) and, when the invocation's trace
/// is recorded, the `## <handler>` subsegment with the `ColdStart` and `Service` annotations,
/// the response or error as metadata, and `fault` with a `cause` on error. Made by
/// [`Tracer::layer`].
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
        TracerFuture {
            inner: self.inner.call(event),
            tracer: self.tracer.clone(),
            state,
        }
    }
}

pin_project! {
    /// The future of [`TracerService`].
    #[derive(Debug)]
    pub struct TracerFuture<F> {
        #[pin]
        inner: F,
        tracer: Tracer,
        state: Option<Arc<TraceState>>,
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
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        if let Some(state) = this.state.take() {
            let open = state.handler.lock().ok().and_then(|mut h| h.take());
            if let Some(mut subsegment) = open {
                let inner = &this.tracer.inner;
                let handler = &inner.handler_name;
                match &result {
                    Ok(response) if inner.capture_response => {
                        let value =
                            serde_json::to_value(response).unwrap_or(serde_json::Value::Null);
                        subsegment.put_metadata(
                            &inner.service,
                            &format!("{handler} response"),
                            value,
                        );
                    }
                    Ok(_) => {}
                    Err(error) => {
                        let message = error.to_string();
                        if inner.capture_error {
                            subsegment.put_metadata(
                                &inner.service,
                                &format!("{handler} error"),
                                message.clone().into(),
                            );
                        }
                        subsegment.record_exception(message, None, true);
                    }
                }
                subsegment.end_time = Some(this.tracer.now());
                inner.sink.export(&subsegment);
            }
        }
        Poll::Ready(result)
    }
}
