//! The tower layer: cold-start metric at the start, flush at the end of every invocation.

use std::future::Future;

use futures_util::TryFutureExt;
use futures_util::future::MapErr;
use lambda_runtime::Diagnostic;
use powertools_core::{Invocation, InvocationHook, InvocationLayer, InvocationService, Panicked};

use crate::error::MetricsError;
use crate::metrics::Metrics;

/// Wraps a handler: opens the invocation scope (re-entrant), writes the `ColdStart` blob on a
/// cold start, and flushes the invocation's metrics when the handler returns, **including when
/// it fails or panics** (the panic then goes on unchanged, for `lambda_runtime` to report).
/// Made by [`Metrics::layer`]; its hook is [`MetricsHook`].
pub type MetricsLayer = InvocationLayer<MetricsHook>;

/// The service made by [`MetricsLayer`].
pub type MetricsService<S> = InvocationService<S, MetricsHook>;

/// What the metrics client does around each invocation (see [`MetricsLayer`]): the `ColdStart`
/// blob before the handler, the flush after it. Its error type wraps the handler's
/// ([`MetricsLayerError`]).
#[derive(Debug, Clone)]
pub struct MetricsHook {
    metrics: Metrics,
}

impl Metrics {
    /// The tower layer for the handler (see [`MetricsLayer`]).
    pub fn layer(&self) -> MetricsLayer {
        InvocationLayer::new(self.function_config().clone()).hook(MetricsHook {
            metrics: self.clone(),
        })
    }
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

impl<Req, R, E> InvocationHook<Req, R, E> for MetricsHook {
    type Error = MetricsLayerError<E>;
    type State = ();
    type Around<F>
        = MapErr<F, fn(E) -> MetricsLayerError<E>>
    where
        F: Future<Output = Result<R, E>> + Send + 'static;

    fn start(&self, invocation: Option<&Invocation>, _: &Req) {
        if let Some(invocation) = invocation {
            self.metrics.emit_cold_start(invocation);
        }
    }

    fn around<F>(&self, _: &mut (), handler: F) -> Self::Around<F>
    where
        F: Future<Output = Result<R, E>> + Send + 'static,
    {
        handler.map_err(MetricsLayerError::Handler as fn(E) -> MetricsLayerError<E>)
    }

    fn finish(
        &self,
        _: (),
        result: Result<R, MetricsLayerError<E>>,
    ) -> Result<R, MetricsLayerError<E>> {
        let flushed = self.metrics.flush();
        match (result, flushed) {
            // The handler's error wins.
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(MetricsLayerError::Metrics(e)),
            (Ok(response), Ok(())) => Ok(response),
        }
    }

    fn panicked(&self, _: (), _: &Panicked) {
        // What the handler added before it panicked is written; then the panic goes on.
        let _ = self.metrics.flush();
    }

    fn ready_error(&self, error: E) -> MetricsLayerError<E> {
        MetricsLayerError::Handler(error)
    }
}
