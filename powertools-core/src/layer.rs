//! The one tower layer every utility is built on: it opens the invocation scope around a
//! handler and runs a utility's [`InvocationHook`] before and after the handler, on success,
//! error and panic alike.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::LambdaEvent;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::cold_start::{ColdStart, take_cold_start};
use crate::config::FunctionConfig;
use crate::invocation::Invocation;
use crate::panic::{CatchPanic, Panicked, catch_panic};

/// A request that carries a Lambda invocation context: what [`InvocationService`] opens the
/// scope from.
///
/// Implemented for [`LambdaEvent`] and for `http::Request` (the context in its extensions, as
/// `lambda_http` puts it), so the same layer and hooks serve `lambda_runtime` handlers and
/// `lambda_http`/axum services.
pub trait LambdaRequest {
    /// The invocation's context, when the request carries one.
    fn lambda_context(&self) -> Option<&lambda_runtime::Context>;
}

impl<T> LambdaRequest for LambdaEvent<T> {
    fn lambda_context(&self) -> Option<&lambda_runtime::Context> {
        Some(&self.context)
    }
}

/// An HTTP request as `lambda_http` hands it to a service (an axum `Router`, a `service_fn`):
/// the invocation's context is in the request's extensions. A request built elsewhere (a unit
/// test calling the router directly) has none, and runs without an invocation scope.
impl<B> LambdaRequest for http::Request<B> {
    fn lambda_context(&self) -> Option<&lambda_runtime::Context> {
        self.extensions().get::<lambda_runtime::Context>()
    }
}

/// What a utility does around each invocation, run by [`InvocationService`] inside the
/// invocation's scope.
///
/// In order, for each call: [`start`](Self::start) before the handler is called (it may look
/// at the request), [`around`](Self::around) to wrap the handler's future (most hooks return
/// it unchanged), then exactly one of [`finish`](Self::finish) with the handler's result or
/// [`panicked`](Self::panicked) when the handler panicked. After `panicked` the panic goes on
/// unchanged, for `lambda_runtime` to report it. Before `panicked` runs, the handler's future
/// is dropped inside [`crate::unwinding_from`], so that what it held (spans, guards) closes
/// knowing why.
///
/// `()` is the hook that does nothing: `InvocationLayer<()>` only opens the scope.
///
/// ```
/// use lambda_runtime::{Error, LambdaEvent, service_fn};
/// use powertools_core::{Invocation, InvocationHook, InvocationLayer, Panicked};
/// use serde_json::Value;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tower::{Layer, ServiceExt};
///
/// /// Counts failed invocations.
/// #[derive(Clone, Default)]
/// struct Failures(Arc<AtomicUsize>);
///
/// impl<T, R, E> InvocationHook<LambdaEvent<T>, R, E> for Failures {
///     type Error = E;
///     type State = ();
///     type Around<F> = F where F: Future<Output = Result<R, E>> + Send + 'static;
///
///     fn start(&self, _: Option<&Invocation>, _: &LambdaEvent<T>) {}
///     fn around<F>(&self, _: &mut (), handler: F) -> F
///     where
///         F: Future<Output = Result<R, E>> + Send + 'static,
///     {
///         handler
///     }
///     fn finish(&self, _: (), result: Result<R, E>) -> Result<R, E> {
///         if result.is_err() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         result
///     }
///     fn panicked(&self, _: (), _: &Panicked) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn ready_error(&self, error: E) -> E {
///         error
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let failures = Failures::default();
/// let service = InvocationLayer::from_env()
///     .hook(failures.clone())
///     .layer(service_fn(|_: LambdaEvent<Value>| async { Err::<(), Error>("no".into()) }));
/// let _ = service.oneshot(LambdaEvent::new(Value::Null, Default::default())).await;
/// assert_eq!(failures.0.load(Ordering::Relaxed), 1);
/// # });
/// ```
pub trait InvocationHook<Req, Res, Err> {
    /// The error the wrapped service returns (the handler's own for most hooks).
    type Error;
    /// What [`start`](Self::start) hands on to [`finish`](Self::finish) or
    /// [`panicked`](Self::panicked).
    type State;
    /// The handler's future as this hook runs it.
    type Around<F>: Future<Output = Result<Res, Self::Error>>
    where
        F: Future<Output = Result<Res, Err>> + Send + 'static;

    /// Before the handler is called, inside the scope (`None` when the request carries no
    /// Lambda context).
    fn start(&self, invocation: Option<&Invocation>, request: &Req) -> Self::State;

    /// Wraps the handler's future (created, not yet polled).
    fn around<F>(&self, state: &mut Self::State, handler: F) -> Self::Around<F>
    where
        F: Future<Output = Result<Res, Err>> + Send + 'static;

    /// After the handler returned, with its result; what it returns is the service's result.
    fn finish(
        &self,
        state: Self::State,
        result: Result<Res, Self::Error>,
    ) -> Result<Res, Self::Error>;

    /// After the handler panicked and its future was dropped; the panic then goes on.
    fn panicked(&self, state: Self::State, panic: &Panicked);

    /// Turns an error of the inner service's `poll_ready` into the service's error.
    fn ready_error(&self, error: Err) -> Self::Error;

    /// A streamed response's body failed after the handler returned its head
    /// ([`StreamingLayer`](crate::StreamingLayer)): called with why, before
    /// [`finish`](Self::finish) (which gets the head, as the client got it). The response is
    /// sent already: the hook can only record the failure (flush a log buffer, mark a trace).
    /// Does nothing by default.
    fn stream_failed(&self, state: &mut Self::State, error: &str) {
        let _ = (state, error);
    }
}

impl<Req, Res, Err> InvocationHook<Req, Res, Err> for () {
    type Error = Err;
    type State = ();
    type Around<F>
        = F
    where
        F: Future<Output = Result<Res, Err>> + Send + 'static;

    fn start(&self, _: Option<&Invocation>, _: &Req) {}

    fn around<F>(&self, _: &mut (), handler: F) -> F
    where
        F: Future<Output = Result<Res, Err>> + Send + 'static,
    {
        handler
    }

    fn finish(&self, _: (), result: Result<Res, Err>) -> Result<Res, Err> {
        result
    }

    fn panicked(&self, _: (), _: &Panicked) {}

    fn ready_error(&self, error: Err) -> Err {
        error
    }
}

/// Opens the [`Invocation`] scope for each call of the wrapped handler and runs the hook `H`
/// around it (`()`, the default, does nothing more).
///
/// Every utility's tower layer is this layer with the utility's hook (`LoggerLayer`,
/// `MetricsLayer`, `TracerLayer`, `IdempotencyLayer`), so they open the scope, take the
/// cold-start flag and catch panics the same way. It is re-entrant: when a scope for the same
/// request id is already open (because another Powertools layer opened it), it reuses that
/// scope, so the cold-start flag is taken once per invocation whatever the nesting.
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
pub struct InvocationLayer<H = ()> {
    config: Arc<FunctionConfig>,
    cold_start: Option<Arc<ColdStart>>,
    hook: H,
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
            hook: (),
        }
    }
}

impl<H> InvocationLayer<H> {
    /// The same layer running `hook` around each invocation.
    pub fn hook<H2>(self, hook: H2) -> InvocationLayer<H2> {
        InvocationLayer {
            config: self.config,
            cold_start: self.cold_start,
            hook,
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

    /// The hook run around each invocation.
    pub fn hook_ref(&self) -> &H {
        &self.hook
    }
}

impl<S, H: Clone> Layer<S> for InvocationLayer<H> {
    type Service = InvocationService<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`InvocationLayer`].
#[derive(Debug, Clone)]
pub struct InvocationService<S, H = ()> {
    inner: S,
    layer: InvocationLayer<H>,
}

impl<H> InvocationLayer<H> {
    /// The scope for `context`: the open one when it is for the same request, else a new one
    /// (taking the cold-start flag).
    pub(crate) fn open(&self, context: &lambda_runtime::Context) -> Invocation {
        if let Some(current) = Invocation::current()
            && current.request_id() == context.request_id
        {
            return current;
        }
        let kind = self.config.initialization_type();
        let cold = match &self.cold_start {
            Some(flag) => flag.take(kind),
            None => take_cold_start(kind),
        };
        Invocation::from_context(context, Arc::clone(&self.config), cold)
    }
}

impl<S, H, Req> Service<Req> for InvocationService<S, H>
where
    Req: LambdaRequest,
    S: Service<Req>,
    S::Future: Send + 'static,
    H: InvocationHook<Req, S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = H::Error;
    type Future = InvocationFuture<Req, S, H>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.layer.hook.ready_error(error))),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let invocation = request
            .lambda_context()
            .map(|context| self.layer.open(context));
        let hook = self.layer.hook.clone();
        let inner = &mut self.inner;
        // `start` and the inner `call` run inside the scope too: layers may do synchronous
        // work there.
        let begin = || {
            let mut state = hook.start(invocation.as_ref(), &request);
            let future = catch_panic(|| hook.around(&mut state, inner.call(request)));
            (state, future)
        };
        let (state, future) = match &invocation {
            Some(invocation) => invocation.clone().sync_scope(begin),
            None => begin(),
        };
        InvocationFuture {
            inner: Some(future),
            hook,
            state: Some(state),
            invocation,
            _request: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`InvocationService`]: the handler's, polled inside the invocation's
    /// scope, then the hook's `finish` or `panicked`.
    pub struct InvocationFuture<Req, S, H>
    where
        S: Service<Req>,
        S::Future: Send,
        S::Future: 'static,
        H: InvocationHook<Req, S::Response, S::Error>,
    {
        // `None` once the handler panicked and its future was dropped.
        #[pin]
        inner: Option<CatchPanic<H::Around<S::Future>>>,
        hook: H,
        state: Option<H::State>,
        invocation: Option<Invocation>,
        _request: PhantomData<fn(Req)>,
    }

    impl<Req, S, H> PinnedDrop for InvocationFuture<Req, S, H>
    where
        S: Service<Req>,
        S::Future: Send,
        S::Future: 'static,
        H: InvocationHook<Req, S::Response, S::Error>,
    {
        fn drop(this: Pin<&mut Self>) {
            // A handler cancelled while pending is dropped inside its scope, as it ran.
            let mut this = this.project();
            if let Some(invocation) = this.invocation.take() {
                invocation.sync_scope(|| this.inner.set(None));
            }
        }
    }
}

impl<Req, S, H> std::fmt::Debug for InvocationFuture<Req, S, H>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    H: InvocationHook<Req, S::Response, S::Error>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationFuture")
            .field("invocation", &self.invocation)
            .finish_non_exhaustive()
    }
}

impl<Req, S, H> Future for InvocationFuture<Req, S, H>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    H: InvocationHook<Req, S::Response, S::Error>,
{
    type Output = Result<S::Response, H::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let invocation = this.invocation.clone();
        let mut step = || -> Poll<Self::Output> {
            let Some(inner) = this.inner.as_mut().as_pin_mut() else {
                // Only after a panic, which was resumed: never polled again by a caller.
                return Poll::Pending;
            };
            let outcome = match inner.poll(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => return Poll::Pending,
            };
            let Some(state) = this.state.take() else {
                return Poll::Pending;
            };
            match outcome {
                Ok(result) => Poll::Ready(this.hook.finish(state, result)),
                Err(panicked) => {
                    // Drop the handler's future first, so that what it holds closes knowing
                    // it was cut short by this panic; then the hook; then the panic goes on.
                    crate::panic::unwinding_from(panicked.message(), || this.inner.set(None));
                    this.hook.panicked(state, &panicked);
                    panicked.resume()
                }
            }
        };
        match invocation {
            Some(invocation) => invocation.sync_scope(step),
            None => step(),
        }
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
                other => panic!("invocation {n} failed: {other:?}"),
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

    /// Records what the hook saw, in order.
    #[derive(Clone, Default)]
    struct Recorder(Arc<std::sync::Mutex<Vec<String>>>);

    impl Recorder {
        fn push(&self, entry: String) {
            if let Ok(mut log) = self.0.lock() {
                log.push(entry);
            }
        }

        fn log(&self) -> Vec<String> {
            self.0.lock().map(|l| l.clone()).unwrap_or_default()
        }
    }

    fn in_scope() -> String {
        Invocation::current().map_or_else(|| "none".to_owned(), |i| i.request_id().to_owned())
    }

    impl<T> InvocationHook<LambdaEvent<T>, Value, Error> for Recorder {
        type Error = Error;
        type State = String;
        type Around<F>
            = F
        where
            F: Future<Output = Result<Value, Error>> + Send + 'static;

        fn start(&self, invocation: Option<&Invocation>, request: &LambdaEvent<T>) -> String {
            let cold = invocation.is_some_and(Invocation::is_cold_start);
            self.push(format!(
                "start {} cold={cold} scope={}",
                request.context.request_id,
                in_scope()
            ));
            request.context.request_id.clone()
        }

        fn around<F>(&self, state: &mut String, handler: F) -> F
        where
            F: Future<Output = Result<Value, Error>> + Send + 'static,
        {
            self.push(format!("around {state}"));
            handler
        }

        fn finish(&self, state: String, result: Result<Value, Error>) -> Result<Value, Error> {
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("err {e}"),
            };
            self.push(format!("finish {state} {outcome} scope={}", in_scope()));
            result
        }

        fn panicked(&self, state: String, panic: &Panicked) {
            self.push(format!(
                "panicked {state} {} scope={}",
                panic.message(),
                in_scope()
            ));
        }

        fn ready_error(&self, error: Error) -> Error {
            self.push("ready_error".to_owned());
            error
        }
    }

    fn hooked(flag: &Arc<ColdStart>, hook: &Recorder) -> InvocationLayer<Recorder> {
        layer(flag).hook(hook.clone())
    }

    #[tokio::test]
    async fn the_hook_runs_around_a_success_and_an_error_inside_the_scope() {
        let flag = Arc::new(ColdStart::new());
        let hook = Recorder::default();
        let ok = hooked(&flag, &hook)
            .layer(service_fn(describe))
            .oneshot(event("a", None))
            .await;
        assert_eq!(ok.ok().map(|v| v["request_id"].clone()), Some(json!("a")));
        let failing =
            service_fn(|_: LambdaEvent<Value>| async { Err::<Value, Error>("nope".into()) });
        let err = hooked(&flag, &hook)
            .layer(failing)
            .oneshot(event("b", None))
            .await;
        assert_eq!(err.err().map(|e| e.to_string()), Some("nope".to_owned()));
        assert_eq!(
            hook.log(),
            [
                "start a cold=true scope=a",
                "around a",
                "finish a ok scope=a",
                "start b cold=false scope=b",
                "around b",
                "finish b err nope scope=b",
            ]
        );
    }

    #[allow(clippy::panic)] // the handlers panic on purpose
    #[tokio::test]
    async fn a_panic_in_the_call_or_the_future_runs_panicked_then_goes_on() {
        let flag = Arc::new(ColdStart::new());
        let hook = Recorder::default();
        let late = service_fn(|_: LambdaEvent<Value>| async {
            tokio::task::yield_now().await;
            if true {
                panic!("late boom");
            }
            Ok::<Value, Error>(Value::Null)
        });
        let service = hooked(&flag, &hook).layer(late);
        let outcome = tokio::spawn(service.oneshot(event("p1", None))).await;
        let payload = outcome.err().map(|e| e.into_panic());
        assert_eq!(
            payload.and_then(|p| p.downcast::<&str>().ok()).as_deref(),
            Some(&"late boom")
        );

        #[derive(Clone)]
        struct PanicsInCall;
        impl Service<LambdaEvent<Value>> for PanicsInCall {
            type Response = Value;
            type Error = Error;
            type Future = std::future::Ready<Result<Value, Error>>;
            fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: LambdaEvent<Value>) -> Self::Future {
                panic!("early boom")
            }
        }
        let service = hooked(&flag, &hook).layer(PanicsInCall);
        let outcome = tokio::spawn(service.oneshot(event("p2", None))).await;
        assert!(outcome.is_err_and(|e| e.is_panic()));
        assert_eq!(
            hook.log(),
            [
                "start p1 cold=true scope=p1",
                "around p1",
                "panicked p1 late boom scope=p1",
                "start p2 cold=false scope=p2",
                "panicked p2 early boom scope=p2",
            ]
        );
    }

    #[tokio::test]
    async fn a_poll_ready_error_goes_through_the_hook() {
        #[derive(Clone)]
        struct NeverReady;
        impl Service<LambdaEvent<Value>> for NeverReady {
            type Response = Value;
            type Error = Error;
            type Future = std::future::Ready<Result<Value, Error>>;
            fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
                Poll::Ready(Err("not ready".into()))
            }
            fn call(&mut self, _: LambdaEvent<Value>) -> Self::Future {
                std::future::ready(Ok(Value::Null))
            }
        }
        let flag = Arc::new(ColdStart::new());
        let hook = Recorder::default();
        let outcome = hooked(&flag, &hook)
            .layer(NeverReady)
            .oneshot(event("r", None))
            .await;
        assert_eq!(
            outcome.err().map(|e| e.to_string()),
            Some("not ready".to_owned())
        );
        assert_eq!(hook.log(), ["ready_error"]);
        assert!(!flag.is_taken(), "no invocation was opened");
    }

    #[tokio::test]
    async fn a_cancelled_handler_is_dropped_inside_its_scope() {
        struct SeesScopeOnDrop(Arc<std::sync::Mutex<Option<String>>>);
        impl Drop for SeesScopeOnDrop {
            fn drop(&mut self) {
                if let Ok(mut seen) = self.0.lock() {
                    *seen = Some(in_scope());
                }
            }
        }
        let seen = Arc::new(std::sync::Mutex::new(None));
        let slot = Arc::clone(&seen);
        let pending = service_fn(move |_: LambdaEvent<Value>| {
            let guard = SeesScopeOnDrop(Arc::clone(&slot));
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok::<Value, Error>(Value::Null)
            }
        });
        let flag = Arc::new(ColdStart::new());
        let hook = Recorder::default();
        let future = hooked(&flag, &hook)
            .layer(pending)
            .oneshot(event("c", None));
        let timed_out = tokio::time::timeout(Duration::from_millis(5), future).await;
        assert!(timed_out.is_err());
        assert_eq!(
            seen.lock().ok().and_then(|s| s.clone()).as_deref(),
            Some("c")
        );
    }

    #[tokio::test]
    async fn a_request_without_a_lambda_context_gets_no_scope() {
        struct Plain;
        impl LambdaRequest for Plain {
            fn lambda_context(&self) -> Option<&lambda_runtime::Context> {
                None
            }
        }
        let flag = Arc::new(ColdStart::new());
        let service =
            layer(&flag).layer(service_fn(|_: Plain| async { Ok::<_, Error>(in_scope()) }));
        assert_eq!(service.oneshot(Plain).await.ok().as_deref(), Some("none"));
        assert!(!flag.is_taken());
    }

    #[tokio::test]
    async fn an_http_request_opens_the_scope_from_its_extensions() {
        let flag = Arc::new(ColdStart::new());
        let service = layer(&flag).layer(service_fn(|_: http::Request<()>| async {
            Ok::<_, Error>(in_scope())
        }));
        let mut request = http::Request::new(());
        request
            .extensions_mut()
            .insert(event("http-1", None).context);
        assert_eq!(
            service.clone().oneshot(request).await.ok().as_deref(),
            Some("http-1")
        );
        assert!(flag.is_taken());
        // Built outside lambda_http (a unit test calling the router): no context, no scope.
        assert_eq!(
            service
                .oneshot(http::Request::new(()))
                .await
                .ok()
                .as_deref(),
            Some("none")
        );
    }
}
