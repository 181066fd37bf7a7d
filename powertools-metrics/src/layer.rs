//! The tower layer: cold-start metric at the start, flush at the end of every invocation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::{Diagnostic, LambdaEvent};
use pin_project_lite::pin_project;
use powertools_core::{CatchPanic, Invocation, InvocationLayer, InvocationService, catch_panic};
use tower::{Layer, Service};

use crate::error::MetricsError;
use crate::metrics::Metrics;

/// Wraps a handler: opens the invocation scope (re-entrant), writes the `ColdStart` blob on a
/// cold start, and flushes the invocation's metrics when the handler returns, **including when
/// it fails or panics** (the panic then goes on unchanged, for `lambda_runtime` to report).
/// Made by [`Metrics::layer`].
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Metrics,
    invocation: InvocationLayer,
}

impl Metrics {
    /// The tower layer for the handler (see [`MetricsLayer`]).
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            metrics: self.clone(),
            invocation: InvocationLayer::new((*self.inner.config).clone()),
        }
    }
}

impl MetricsLayer {
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

impl<S> Layer<S> for MetricsLayer {
    type Service = InvocationService<MetricsService<S>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.invocation.layer(MetricsService {
            inner,
            metrics: self.metrics.clone(),
        })
    }
}

/// The service inside [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

/// The handler's own error, or the metrics client's (only with `raise_on_empty_metrics`).
#[derive(Debug)]
pub enum MetricsLayerError<E> {
    /// The handler failed; its error is passed on unchanged.
    Handler(E),
    /// The handler succeeded but the metrics could not be flushed as configured.
    Metrics(MetricsError),
}

impl<E: std::fmt::Display> std::fmt::Display for MetricsLayerError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handler(e) => e.fmt(f),
            Self::Metrics(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for MetricsLayerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Handler(e) => Some(e),
            Self::Metrics(e) => Some(e),
        }
    }
}

impl<E: Into<Diagnostic>> From<MetricsLayerError<E>> for Diagnostic {
    fn from(error: MetricsLayerError<E>) -> Self {
        match error {
            MetricsLayerError::Handler(e) => e.into(),
            MetricsLayerError::Metrics(e) => Diagnostic {
                error_type: "SchemaValidationError".to_owned(),
                error_message: e.to_string(),
            },
        }
    }
}

impl<S, T> Service<LambdaEvent<T>> for MetricsService<S>
where
    S: Service<LambdaEvent<T>>,
{
    type Response = S::Response;
    type Error = MetricsLayerError<S::Error>;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(MetricsLayerError::Handler)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        if let Some(invocation) = Invocation::current() {
            self.metrics.emit_cold_start(&invocation);
        }
        let inner = &mut self.inner;
        MetricsFuture {
            inner: catch_panic(|| inner.call(event)),
            metrics: self.metrics.clone(),
        }
    }
}

pin_project! {
    /// The future of [`MetricsService`].
    #[derive(Debug)]
    pub struct MetricsFuture<F> {
        #[pin]
        inner: CatchPanic<F>,
        metrics: Metrics,
    }
}

impl<F, R, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, MetricsLayerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(panicked)) => {
                // What the handler added before it panicked is written; then the panic goes on.
                let _ = this.metrics.flush();
                panicked.resume()
            }
            Poll::Pending => return Poll::Pending,
        };
        let flushed = this.metrics.flush();
        Poll::Ready(match (result, flushed) {
            (Err(e), _) => Err(MetricsLayerError::Handler(e)),
            (Ok(_), Err(e)) => Err(MetricsLayerError::Metrics(e)),
            (Ok(response), Ok(())) => Ok(response),
        })
    }
}
