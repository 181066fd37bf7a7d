//! The tower layer around the handler: correlation id, event logging, buffer flush or drop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use pin_project_lite::pin_project;
use powertools_core::{CatchPanic, Invocation, InvocationLayer, InvocationService, catch_panic};
use serde::Serialize;
use tower::{Layer, Service};

use crate::Json;
use crate::logger::Logger;
use crate::state::{InvocationLog, lock};

/// Wraps a handler: opens the invocation scope (re-entrant), sets the correlation id from the
/// event, logs the event when asked, and at the end flushes the log buffer if the handler
/// failed or drops it if it succeeded. When the handler panics, the buffer is flushed, the
/// panic is logged as an ERROR line of the invocation, and the panic continues (for
/// `lambda_runtime` to report it). Made by [`Logger::context_layer`].
#[derive(Debug, Clone)]
pub struct LogContextLayer {
    logger: Logger,
    invocation: InvocationLayer,
}

impl Logger {
    /// The tower layer for the handler (see [`LogContextLayer`]).
    pub fn context_layer(&self) -> LogContextLayer {
        LogContextLayer {
            logger: self.clone(),
            invocation: InvocationLayer::new(self.function_config().clone()),
        }
    }
}

impl LogContextLayer {
    /// Uses `flag` instead of the process-wide cold-start flag (tests).
    #[must_use]
    pub fn with_cold_start_flag(
        mut self,
        flag: std::sync::Arc<powertools_core::ColdStart>,
    ) -> Self {
        self.invocation = self.invocation.with_cold_start_flag(flag);
        self
    }
}

impl<S> Layer<S> for LogContextLayer {
    type Service = InvocationService<LogContext<S>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.invocation.layer(LogContext {
            inner,
            logger: self.logger.clone(),
        })
    }
}

/// The service inside [`LogContextLayer`].
#[derive(Debug, Clone)]
pub struct LogContext<S> {
    inner: S,
    logger: Logger,
}

impl<S, T> Service<LambdaEvent<T>> for LogContext<S>
where
    S: Service<LambdaEvent<T>>,
    T: Serialize,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = LogContextFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let shared = &self.logger.shared;
        if let Some(invocation) = Invocation::current() {
            if let Some(path) = &shared.correlation
                && let Some(id) = path.extract(&event.payload)
            {
                *lock(&InvocationLog::of(&invocation).correlation_id) = Some(id);
            }
            if shared.log_event {
                tracing::info!(message = ?Json(&event.payload));
            }
        }
        let inner = &mut self.inner;
        LogContextFuture {
            inner: catch_panic(|| inner.call(event)),
            logger: self.logger.clone(),
        }
    }
}

pin_project! {
    /// The future of [`LogContext`].
    #[derive(Debug)]
    pub struct LogContextFuture<F> {
        #[pin]
        inner: CatchPanic<F>,
        logger: Logger,
    }
}

impl<F, R, E> Future for LogContextFuture<F>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(Ok(result)) => {
                if result.is_err() {
                    this.logger.flush_buffer();
                } else {
                    this.logger.clear_buffer();
                }
                Poll::Ready(result)
            }
            Poll::Ready(Err(panicked)) => {
                // As on a failure: the held lines, then the panic itself, then on to the
                // runtime, which reports it as the invocation's error.
                this.logger.flush_buffer();
                crate::layer::write_panic(&this.logger.shared, panicked.message());
                panicked.resume()
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
