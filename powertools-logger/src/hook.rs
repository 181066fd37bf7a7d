//! What the logger does around each invocation, as the hook of the one invocation layer of
//! `powertools-core`: correlation id, event logging, buffer flush or drop, the panic line.

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use powertools_core::{Invocation, InvocationHook, InvocationLayer, InvocationService, Panicked};
use serde::Serialize;

use crate::json::Json;
use crate::render::{flush, write_panic};
use crate::shared::Shared;
use crate::state::InvocationLog;

/// The logger's tower layer: `powertools_core::InvocationLayer` with the [`LoggerHook`]. Made
/// by [`Logger::layer`](crate::Logger::layer).
pub type LoggerLayer = InvocationLayer<LoggerHook>;

/// The service made by [`LoggerLayer`].
pub type LoggerService<S> = InvocationService<S, LoggerHook>;

/// The logger's work around each invocation, run inside the invocation's scope by
/// [`LoggerLayer`].
///
/// Before the handler: sets the invocation's correlation id from the event (with
/// [`LoggerBuilder::correlation_id_path`](crate::LoggerBuilder::correlation_id_path)) and logs
/// the event at INFO when asked (`POWERTOOLS_LOGGER_LOG_EVENT`, redaction applies). After it:
/// flushes the invocation's log buffer if the handler failed, drops it if it succeeded. When
/// the handler panics, the buffer is flushed, the panic is logged as an ERROR line of the
/// invocation, and the panic goes on (for `lambda_runtime` to report it).
///
/// With the feature `http`, the same for `http::Request` (a `lambda_http` service, an axum
/// `Router`): the correlation id is read from the request, not by JMESPath (see
/// `LoggerBuilder::correlation_id_header`).
#[derive(Clone)]
pub struct LoggerHook {
    shared: Arc<Shared>,
}

impl LoggerHook {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl std::fmt::Debug for LoggerHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerHook")
            .field("log_event", &self.shared.log_event)
            .field("correlation", &self.shared.correlation)
            .finish_non_exhaustive()
    }
}

impl LoggerHook {
    /// Before the handler, for any kind of request: the correlation id (when `correlation`
    /// finds one) and the request line (when `log_event` is on). Returns the hook's state.
    fn begin(
        &self,
        invocation: Option<&Invocation>,
        correlation: impl FnOnce(&Shared) -> Option<String>,
        request_line: impl FnOnce(&Shared),
    ) -> Option<Invocation> {
        let invocation = invocation?;
        let shared = &self.shared;
        if let Some(id) = correlation(shared) {
            InvocationLog::of(invocation).set_correlation_id(id);
        }
        if shared.log_event {
            request_line(shared);
        }
        Some(invocation.clone())
    }

    /// After the handler returned: the buffer is flushed on an error, dropped on success.
    fn end<R, E>(&self, invocation: Option<Invocation>, result: Result<R, E>) -> Result<R, E> {
        if let Some(invocation) = &invocation {
            let state = InvocationLog::of(invocation);
            if result.is_err() {
                flush(&self.shared, &state, invocation);
            } else {
                state.clear_buffer();
            }
        }
        result
    }

    /// After the handler panicked: as on a failure, the held lines, then the panic itself;
    /// then the panic goes on to the runtime, which reports it as the invocation's error.
    fn on_panic(&self, invocation: Option<Invocation>, panic: &Panicked) {
        if let Some(invocation) = &invocation {
            flush(&self.shared, &InvocationLog::of(invocation), invocation);
        }
        write_panic(&self.shared, panic.message(), invocation.as_ref());
    }
}

impl<T, R, E> InvocationHook<LambdaEvent<T>, R, E> for LoggerHook
where
    T: Serialize,
{
    type Error = E;
    /// The invocation the handler runs in (`None` without a Lambda context).
    type State = Option<Invocation>;
    type Around<F>
        = F
    where
        F: Future<Output = Result<R, E>> + Send + 'static;

    fn start(&self, invocation: Option<&Invocation>, event: &LambdaEvent<T>) -> Self::State {
        self.begin(
            invocation,
            |shared| shared.correlation.as_ref()?.extract(&event.payload),
            |_| tracing::info!(message = ?Json(&event.payload)),
        )
    }

    fn around<F>(&self, _: &mut Self::State, handler: F) -> F
    where
        F: Future<Output = Result<R, E>> + Send + 'static,
    {
        handler
    }

    fn finish(&self, invocation: Self::State, result: Result<R, E>) -> Result<R, E> {
        self.end(invocation, result)
    }

    fn panicked(&self, invocation: Self::State, panic: &Panicked) {
        self.on_panic(invocation, panic);
    }

    fn ready_error(&self, error: E) -> E {
        error
    }
}

/// HTTP requests as `lambda_http` hands them to a service (an axum `Router`, a
/// `service_fn`), with the Lambda context and the request context in their extensions: the
/// same scope, cold start, buffer and panic line as for a [`LambdaEvent`]. The correlation id
/// comes from the request (see
/// [`LoggerBuilder::correlation_id_header`](crate::LoggerBuilder::correlation_id_header)),
/// and the request line has the method, path, headers (redacted) and, when asked, the body.
#[cfg(feature = "http")]
impl<B, R, E> InvocationHook<http::Request<B>, R, E> for LoggerHook
where
    B: 'static,
{
    type Error = E;
    /// The invocation the handler runs in (`None` without a Lambda context).
    type State = Option<Invocation>;
    type Around<F>
        = F
    where
        F: Future<Output = Result<R, E>> + Send + 'static;

    fn start(&self, invocation: Option<&Invocation>, request: &http::Request<B>) -> Self::State {
        self.begin(
            invocation,
            |shared| crate::http::correlation_id(shared, request),
            |shared| {
                let message = crate::http::request_message(shared, request);
                tracing::info!(message = ?Json(&message));
            },
        )
    }

    fn around<F>(&self, _: &mut Self::State, handler: F) -> F
    where
        F: Future<Output = Result<R, E>> + Send + 'static,
    {
        handler
    }

    fn finish(&self, invocation: Self::State, result: Result<R, E>) -> Result<R, E> {
        self.end(invocation, result)
    }

    fn panicked(&self, invocation: Self::State, panic: &Panicked) {
        self.on_panic(invocation, panic);
    }

    fn ready_error(&self, error: E) -> E {
        error
    }

    /// A streamed body failed after the head was sent (`Logger::layer().streaming()`): the
    /// held lines, then an ERROR line with why, as for a failed invocation.
    fn stream_failed(&self, invocation: &mut Self::State, error: &str) {
        if let Some(invocation) = invocation {
            flush(&self.shared, &InvocationLog::of(invocation), invocation);
        }
        tracing::error!(
            target: powertools_core::WARNING_TARGET,
            error,
            "the response stream failed after its head was sent"
        );
    }
}
