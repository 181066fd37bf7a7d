//! The tower layer that opens the invocation scope around a handler.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use crate::cold_start::{ColdStart, take_cold_start};
use crate::config::FunctionConfig;
use crate::invocation::Invocation;

/// Opens the [`Invocation`] scope for each call of the wrapped handler.
///
/// Place it outermost; every utility's layer relies on it. It is re-entrant: when a scope for
/// the same request id is already open (because another Powertools layer opened it), it reuses
/// that scope, so the cold-start flag is taken once per invocation whatever the nesting.
///
/// ```
/// use lambda_runtime::{Error, LambdaEvent, service_fn};
/// use powertools_core::{Invocation, InvocationLayer};
/// use serde_json::Value;
/// use tower::ServiceBuilder;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     let invocation = Invocation::current().expect("opened by InvocationLayer");
///     Ok(serde_json::json!({ "cold_start": invocation.is_cold_start() }))
/// }
///
/// let service = ServiceBuilder::new()
///     .layer(InvocationLayer::from_env())
///     .service(service_fn(handler));
/// // lambda_runtime::run(service).await
/// # let _ = service;
/// ```
#[derive(Debug, Clone)]
pub struct InvocationLayer {
    config: Arc<FunctionConfig>,
    cold_start: Option<Arc<ColdStart>>,
}

impl InvocationLayer {
    /// A layer configured from the process environment ([`FunctionConfig::from_env`]).
    pub fn from_env() -> Self {
        Self::new(FunctionConfig::from_env())
    }

    /// A layer with an explicit function configuration.
    pub fn new(config: FunctionConfig) -> Self {
        Self {
            config: Arc::new(config),
            cold_start: None,
        }
    }

    /// Uses `flag` instead of the process-wide cold-start flag (for tests that need a fresh
    /// process within one test binary).
    #[must_use]
    pub fn with_cold_start_flag(mut self, flag: Arc<ColdStart>) -> Self {
        self.cold_start = Some(flag);
        self
    }

    /// The function configuration given to each invocation.
    pub fn config(&self) -> &Arc<FunctionConfig> {
        &self.config
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`InvocationLayer`].
#[derive(Debug, Clone)]
pub struct InvocationService<S> {
    inner: S,
    layer: InvocationLayer,
}

impl<S> InvocationService<S> {
    fn open(&self, context: &lambda_runtime::Context) -> Invocation {
        if let Some(current) = Invocation::current()
            && current.request_id() == context.request_id
        {
            return current;
        }
        let kind = self.layer.config.initialization_type();
        let cold = match &self.layer.cold_start {
            Some(flag) => flag.take(kind),
            None => take_cold_start(kind),
        };
        Invocation::from_context(context, Arc::clone(&self.layer.config), cold)
    }
}

impl<S, T> Service<LambdaEvent<T>> for InvocationService<S>
where
    S: Service<LambdaEvent<T>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<Invocation, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let invocation = self.open(&event.context);
        // The inner `call` runs inside the scope too: layers may do synchronous work there.
        let inner = &mut self.inner;
        let future = invocation.clone().sync_scope(|| inner.call(event));
        invocation.scope(future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::{Context, Error, service_fn};
    use serde_json::{Value, json};
    use std::time::Duration;
    use tower::{ServiceBuilder, ServiceExt};

    fn event(request_id: &str, trace: Option<&str>) -> LambdaEvent<Value> {
        let mut context = Context::default();
        context.request_id = request_id.to_owned();
        context.deadline = 4_102_444_800_000;
        context.invoked_function_arn =
            format!("arn:aws:lambda:eu-west-1:123456789012:function:{request_id}");
        context.xray_trace_id = trace.map(str::to_owned);
        LambdaEvent::new(json!({ "id": request_id }), context)
    }

    async fn describe(event: LambdaEvent<Value>) -> Result<Value, Error> {
        let inv = Invocation::current().ok_or("no invocation scope")?;
        Ok(json!({
            "request_id": inv.request_id(),
            "payload_id": event.payload["id"],
            "cold_start": inv.is_cold_start(),
            "trace_id": inv.xray_trace_id(),
            "arn": inv.function_arn(),
        }))
    }

    fn layer(flag: &Arc<ColdStart>) -> InvocationLayer {
        InvocationLayer::new(FunctionConfig::default()).with_cold_start_flag(Arc::clone(flag))
    }

    #[tokio::test]
    async fn opens_a_scope_with_the_context() {
        let flag = Arc::new(ColdStart::new());
        let svc = layer(&flag).layer(service_fn(describe));
        let out = svc
            .oneshot(event(
                "r1",
                Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
            ))
            .await;
        let out = out.unwrap_or_default();
        assert_eq!(out["request_id"], "r1");
        assert_eq!(out["cold_start"], true);
        assert_eq!(out["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(
            out["arn"],
            "arn:aws:lambda:eu-west-1:123456789012:function:r1"
        );
        assert!(Invocation::current().is_none());
    }

    #[tokio::test]
    async fn second_invocation_is_warm() {
        let flag = Arc::new(ColdStart::new());
        let mut svc = layer(&flag).layer(service_fn(describe));
        let first = svc.ready().await.map(|s| s.call(event("a", None)));
        let first = match first {
            Ok(f) => f.await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        let second = svc.oneshot(event("b", None)).await.unwrap_or_default();
        assert_eq!(first["cold_start"], true);
        assert_eq!(second["cold_start"], false);
    }

    #[tokio::test]
    async fn nested_layers_share_one_scope_and_take_cold_start_once() {
        let flag = Arc::new(ColdStart::new());
        let inner_seen = Arc::new(std::sync::Mutex::new(None::<Invocation>));
        let seen = Arc::clone(&inner_seen);
        let svc = ServiceBuilder::new()
            .layer(layer(&flag))
            .layer(layer(&flag))
            .service(service_fn(move |_e: LambdaEvent<Value>| {
                let seen = Arc::clone(&seen);
                async move {
                    if let Ok(mut slot) = seen.lock() {
                        *slot = Invocation::current();
                    }
                    Ok::<_, Error>(())
                }
            }));
        svc.oneshot(event("nested", None)).await.ok();
        let inv = inner_seen.lock().ok().and_then(|s| s.clone());
        assert!(inv.as_ref().is_some_and(Invocation::is_cold_start));
        // The inner layer reused the outer scope instead of taking the flag again.
        assert!(flag.is_taken());
        let again = layer(&flag)
            .layer(service_fn(describe))
            .oneshot(event("next", None))
            .await;
        assert_eq!(again.unwrap_or_default()["cold_start"], false);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_invocations_never_see_each_others_scope() {
        let flag = Arc::new(ColdStart::new());
        let svc = layer(&flag).layer(service_fn(|event: LambdaEvent<Value>| async move {
            let expected = event.context.request_id.clone();
            let mut mismatches = 0u32;
            for step in 0..20u64 {
                if Invocation::current()
                    .map(|i| i.request_id().to_owned())
                    .as_deref()
                    != Some(&expected)
                {
                    mismatches += 1;
                }
                // Interleave with the other invocations, on both worker threads.
                tokio::time::sleep(Duration::from_micros((step * 37) % 300)).await;
                tokio::task::yield_now().await;
            }
            let child =
                crate::spawn(async { Invocation::current().map(|i| i.request_id().to_owned()) });
            if child.await.ok().flatten().as_deref() != Some(&expected) {
                mismatches += 1;
            }
            Ok::<_, Error>((
                expected,
                mismatches,
                Invocation::current().is_some_and(|i| i.is_cold_start()),
            ))
        }));
        let calls: Vec<_> = (0..50)
            .map(|n| tokio::spawn(svc.clone().oneshot(event(&format!("req-{n}"), None))))
            .collect();
        let mut cold = 0;
        for (n, call) in calls.into_iter().enumerate() {
            let (id, mismatches, was_cold) = match call.await {
                Ok(Ok(out)) => out,
                other => unreachable!("invocation {n} failed: {other:?}"),
            };
            assert_eq!(id, format!("req-{n}"));
            assert_eq!(mismatches, 0, "invocation {id} saw another scope");
            cold += usize::from(was_cold);
        }
        assert_eq!(
            cold, 1,
            "exactly one concurrent invocation is the cold start"
        );
    }
}
