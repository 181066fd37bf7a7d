//! The tower layer: a handler made idempotent over its event payload.

use std::future::Future;

use lambda_runtime::LambdaEvent;
use powertools_core::{
    BoxFuture, Invocation, InvocationHook, InvocationLayer, InvocationService, Panicked,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::Idempotency;
use crate::error::IdempotencyError;

/// Makes the wrapped handler idempotent over its event payload (see [`Idempotency::run`]):
/// [`powertools_core::InvocationLayer`] running an [`IdempotencyHook`].
///
/// Place it **innermost** (last in a `ServiceBuilder`, right around the handler), below the
/// logger, metrics and tracer layers, so that a replayed response is still logged, measured
/// and traced like one the handler returned.
///
/// It works alone too: it opens the invocation scope itself, reusing a scope already open for
/// the same request id, so the in-progress expiry is the invocation's deadline in any layer
/// order.
pub type IdempotencyLayer = InvocationLayer<IdempotencyHook>;

/// The service made by [`IdempotencyLayer`].
pub type IdempotencyService<S> = InvocationService<S, IdempotencyHook>;

/// What [`IdempotencyLayer`] runs around each invocation: the handler's future runs through
/// [`Idempotency::run`] with the event payload as the payload.
///
/// The handler is called before its future is handed to the hook, but a handler's body runs
/// only when its future is polled: a replayed or refused duplicate never runs it. A handler
/// that panics has its claim deleted before the panic goes on (as in [`Idempotency::run`]).
#[derive(Debug, Clone)]
pub struct IdempotencyHook {
    pub(crate) idempotency: Idempotency,
}

impl Idempotency {
    /// The tower layer (see [`IdempotencyLayer`]); place it innermost.
    pub fn layer(&self) -> IdempotencyLayer {
        InvocationLayer::new(self.common().function_config().clone()).hook(IdempotencyHook {
            idempotency: self.clone(),
        })
    }
}

impl<T, R, E> InvocationHook<LambdaEvent<T>, R, E> for IdempotencyHook
where
    T: Serialize,
    R: Serialize + DeserializeOwned + Send + 'static,
    E: Send + 'static,
{
    type Error = IdempotencyError<E>;
    /// The event payload as JSON, or why it could not be written as JSON (an error the
    /// invocation then returns without running the handler).
    type State = Result<Value, serde_json::Error>;
    type Around<F>
        = BoxFuture<'static, Result<R, IdempotencyError<E>>>
    where
        F: Future<Output = Result<R, E>> + Send + 'static;

    fn start(&self, _: Option<&Invocation>, event: &LambdaEvent<T>) -> Self::State {
        serde_json::to_value(&event.payload)
    }

    fn around<F>(&self, state: &mut Self::State, handler: F) -> Self::Around<F>
    where
        F: Future<Output = Result<R, E>> + Send + 'static,
    {
        // The state is not read after this: `finish` and `panicked` do nothing with it.
        let payload = std::mem::replace(state, Ok(Value::Null));
        let idempotency = self.idempotency.clone();
        Box::pin(async move {
            let payload = payload.map_err(|e| {
                IdempotencyError::Serialization(format!("the event could not be read as JSON: {e}"))
            })?;
            idempotency.run(&payload, move || handler).await
        })
    }

    fn finish(
        &self,
        _: Self::State,
        result: Result<R, IdempotencyError<E>>,
    ) -> Result<R, IdempotencyError<E>> {
        result
    }

    /// Nothing more to do: [`Idempotency::run`] deleted the claim before the panic reached the
    /// layer.
    fn panicked(&self, _: Self::State, _: &Panicked) {}

    fn ready_error(&self, error: E) -> IdempotencyError<E> {
        IdempotencyError::Handler(error)
    }
}
