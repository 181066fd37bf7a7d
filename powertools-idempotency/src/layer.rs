//! The tower layer: a handler made idempotent over its event payload.

use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use powertools_core::{InvocationLayer, InvocationService};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

use crate::engine::{Idempotency, IdempotencyError};
use crate::record::BoxFuture;

/// Makes the wrapped handler idempotent over its event payload (see [`Idempotency::run`]).
/// Place it innermost, so that a replayed response is still logged, measured and traced.
///
/// It works alone too: it opens the invocation scope itself through
/// [`powertools_core::InvocationLayer`], which reuses a scope already open for the same
/// request id, so the in-progress expiry is the invocation's deadline in any layer order.
#[derive(Debug, Clone)]
pub struct IdempotencyLayer {
    idempotency: Idempotency,
    scope: InvocationLayer,
}

impl Idempotency {
    /// The tower layer (see [`IdempotencyLayer`]).
    pub fn layer(&self) -> IdempotencyLayer {
        IdempotencyLayer {
            idempotency: self.clone(),
            scope: InvocationLayer::new(self.function_config().clone()),
        }
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = IdempotencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyService {
            scoped: self.scope.layer(Idempotent {
                inner,
                idempotency: self.idempotency.clone(),
            }),
        }
    }
}

/// The service made by [`IdempotencyLayer`]: the invocation scope around the idempotent
/// handler.
#[derive(Debug, Clone)]
pub struct IdempotencyService<S> {
    scoped: InvocationService<Idempotent<S>>,
}

impl<S, T> Service<LambdaEvent<T>> for IdempotencyService<S>
where
    S: Service<LambdaEvent<T>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Serialize + DeserializeOwned + Send + 'static,
    S::Error: Send + 'static,
    T: Serialize + Send + 'static,
{
    type Response = S::Response;
    type Error = IdempotencyError<S::Error>;
    type Future = BoxFuture<'static, Result<S::Response, IdempotencyError<S::Error>>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.scoped.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        Box::pin(self.scoped.call(event))
    }
}

/// The handler made idempotent (inside the invocation scope).
#[derive(Debug, Clone)]
struct Idempotent<S> {
    inner: S,
    idempotency: Idempotency,
}

impl<S, T> Service<LambdaEvent<T>> for Idempotent<S>
where
    S: Service<LambdaEvent<T>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Serialize + DeserializeOwned + Send + 'static,
    S::Error: Send + 'static,
    T: Serialize + Send + 'static,
{
    type Response = S::Response;
    type Error = IdempotencyError<S::Error>;
    type Future = BoxFuture<'static, Result<S::Response, IdempotencyError<S::Error>>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(IdempotencyError::Handler)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        // The ready service goes into the future; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let idempotency = self.idempotency.clone();
        let payload = serde_json::to_value(&event.payload);
        Box::pin(async move {
            let payload = payload.map_err(|e| {
                IdempotencyError::Serialization(format!("the event could not be read as JSON: {e}"))
            })?;
            idempotency.run(&payload, move || inner.call(event)).await
        })
    }
}
