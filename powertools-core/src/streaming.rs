//! Streamed responses: the invocation ends when the body's last frame has been sent, not when
//! the handler returns the response head. The same hooks as [`InvocationLayer`]'s run; only
//! their `finish` moves to the end of the body.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::invocation::Invocation;
use crate::layer::{InvocationHook, InvocationLayer, LambdaRequest};
use crate::panic::{CatchPanic, Panicked, catch_panic};

/// The body of the response head a hook sees for a streamed response: no data, but how many
/// bytes were sent ([`Body::size_hint`] is exact once the body ended) and whether the body
/// ended (rather than failed or being dropped before its end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Streamed {
    bytes: u64,
    complete: bool,
}

impl Streamed {
    /// The body's bytes sent so far (all of them, in `finish`).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the body was sent to its end: `false` when it failed or was dropped first.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

impl Body for Streamed {
    type Data = &'static [u8];
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes)
    }
}

impl<H> InvocationLayer<H> {
    /// The same layer for a service whose response body is streamed (`lambda_http`'s
    /// `run_with_streaming_response`, `lambda_runtime`'s streaming mode): the hook's `finish`
    /// runs when the body's last frame has been sent, and the body is polled inside the
    /// invocation's scope, so what the body writes (log lines, metrics) belongs to the
    /// invocation. The hook sees the response head with a [`Streamed`] body (status, headers,
    /// bytes sent). A body that fails is told to the hook
    /// ([`InvocationHook::stream_failed`]) before `finish`; a panic while the body is polled
    /// runs `panicked` and goes on; a body dropped before its end finishes as incomplete.
    ///
    /// ```
    /// use powertools_core::InvocationLayer;
    /// use tower::ServiceBuilder;
    ///
    /// let service = ServiceBuilder::new()
    ///     .layer(InvocationLayer::from_env().streaming())
    ///     .service_fn(|_request: http::Request<String>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("streamed")))
    ///     });
    /// // lambda_http::run_with_streaming_response(service).await
    /// # let _ = service;
    /// ```
    pub fn streaming(self) -> StreamingLayer<H> {
        StreamingLayer { layer: self }
    }
}

/// [`InvocationLayer::streaming`]: a layer for services that stream their response body.
#[derive(Debug, Clone)]
pub struct StreamingLayer<H = ()> {
    layer: InvocationLayer<H>,
}

impl<S, H: Clone> Layer<S> for StreamingLayer<H> {
    type Service = StreamingService<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        StreamingService {
            inner,
            layer: self.layer.clone(),
        }
    }
}

/// The service made by [`StreamingLayer`].
#[derive(Debug, Clone)]
pub struct StreamingService<S, H = ()> {
    inner: S,
    layer: InvocationLayer<H>,
}

/// Where the handler's future leaves the response body while the hooks see the head.
type BodySlot<B> = Arc<Mutex<Option<B>>>;

fn take<B>(slot: &BodySlot<B>) -> Option<B> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

pin_project! {
    /// The handler's future as the hooks see it: the response head with a [`Streamed`] body,
    /// the real body put aside for [`StreamingBody`].
    pub struct Head<F, B> {
        #[pin]
        inner: F,
        slot: BodySlot<B>,
    }
}

impl<F, B> std::fmt::Debug for Head<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Head")
    }
}

impl<F, B, E> Future for Head<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<Streamed>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => {
                let (parts, body) = response.into_parts();
                *this.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
                Poll::Ready(Ok(http::Response::from_parts(parts, Streamed::default())))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S, H, Req, B> Service<Req> for StreamingService<S, H>
where
    Req: LambdaRequest,
    S: Service<Req, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
    H: InvocationHook<Req, http::Response<Streamed>, S::Error> + Clone,
{
    type Response = http::Response<StreamingBody<B, H, Req, S::Error>>;
    type Error = H::Error;
    type Future = StreamingFuture<Req, S::Future, B, H, S::Error>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.layer.hook_ref().ready_error(error))),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let invocation = request
            .lambda_context()
            .map(|context| self.layer.open(context));
        let hook = self.layer.hook_ref().clone();
        let slot: BodySlot<B> = Arc::new(Mutex::new(None));
        let inner = &mut self.inner;
        let begin = || {
            let mut state = hook.start(invocation.as_ref(), &request);
            let head_slot = Arc::clone(&slot);
            let future = catch_panic(|| {
                let head = Head {
                    inner: inner.call(request),
                    slot: head_slot,
                };
                hook.around(&mut state, head)
            });
            (state, future)
        };
        let (state, future) = match &invocation {
            Some(invocation) => invocation.clone().sync_scope(begin),
            None => begin(),
        };
        StreamingFuture {
            inner: Some(future),
            hook: Some(hook),
            state: Some(state),
            invocation,
            slot,
            _marker: PhantomData,
        }
    }
}

pin_project! {
    /// The future of [`StreamingService`]: the handler's, polled inside the invocation's
    /// scope, then the response with a [`StreamingBody`] that finishes the invocation.
    pub struct StreamingFuture<Req, F, B, H, E>
    where
        F: Future<Output = Result<http::Response<B>, E>>,
        F: Send,
        F: 'static,
        B: Send,
        B: 'static,
        H: InvocationHook<Req, http::Response<Streamed>, E>,
    {
        #[pin]
        inner: Option<CatchPanic<H::Around<Head<F, B>>>>,
        hook: Option<H>,
        state: Option<H::State>,
        invocation: Option<Invocation>,
        slot: BodySlot<B>,
        _marker: PhantomData<fn(Req, E)>,
    }
}

impl<Req, F, B, H, E> std::fmt::Debug for StreamingFuture<Req, F, B, H, E>
where
    F: Future<Output = Result<http::Response<B>, E>> + Send + 'static,
    B: Send + 'static,
    H: InvocationHook<Req, http::Response<Streamed>, E>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingFuture")
            .field("invocation", &self.invocation)
            .finish_non_exhaustive()
    }
}

impl<Req, F, B, H, E> Future for StreamingFuture<Req, F, B, H, E>
where
    F: Future<Output = Result<http::Response<B>, E>> + Send + 'static,
    B: Send + 'static,
    H: InvocationHook<Req, http::Response<Streamed>, E>,
{
    type Output = Result<http::Response<StreamingBody<B, H, Req, E>>, H::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let invocation = this.invocation.clone();
        let mut step = || -> Poll<Self::Output> {
            let Some(inner) = this.inner.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            let outcome = match inner.poll(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => return Poll::Pending,
            };
            let (Some(state), Some(hook)) = (this.state.take(), this.hook.take()) else {
                return Poll::Pending;
            };
            match outcome {
                Ok(Ok(head)) => {
                    let body = take(this.slot);
                    Poll::Ready(Ok(StreamingBody::respond(
                        head,
                        body,
                        hook,
                        state,
                        this.invocation.clone(),
                    )))
                }
                // The handler failed before any byte was sent: as for any invocation.
                Ok(Err(error)) => Poll::Ready(
                    hook.finish(state, Err(error))
                        .map(|head| StreamingBody::finished(head, take(this.slot))),
                ),
                Err(panicked) => {
                    crate::panic::unwinding_from(panicked.message(), || this.inner.set(None));
                    hook.panicked(state, &panicked);
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

pin_project! {
    /// A streamed response's body: the handler's, polled inside the invocation's scope; when
    /// it ends (or fails, or is dropped), the hook's `finish` runs with the head the client
    /// got and the bytes sent.
    pub struct StreamingBody<B, H, Req, E>
    where
        H: InvocationHook<Req, http::Response<Streamed>, E>,
    {
        // `None` once ended (or when the hook answered without the handler's body).
        #[pin]
        inner: Option<B>,
        hook: Option<H>,
        state: Option<H::State>,
        head: Option<http::Response<Streamed>>,
        invocation: Option<Invocation>,
        _marker: PhantomData<fn(Req, E)>,
    }

    impl<B, H, Req, E> PinnedDrop for StreamingBody<B, H, Req, E>
    where
        H: InvocationHook<Req, http::Response<Streamed>, E>,
    {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end (the client went away, the runtime failed): the
            // invocation still finishes, as incomplete, and the body is dropped in its scope.
            let mut this = this.project();
            let invocation = this.invocation.clone();
            let mut end = || {
                this.inner.set(None);
                if let (Some(hook), Some(state), Some(head)) =
                    (this.hook.take(), this.state.take(), this.head.take())
                {
                    let _ = hook.finish(state, Ok(head));
                }
            };
            match invocation {
                Some(invocation) => invocation.sync_scope(end),
                None => end(),
            }
        }
    }
}

impl<B, H, Req, E> std::fmt::Debug for StreamingBody<B, H, Req, E>
where
    H: InvocationHook<Req, http::Response<Streamed>, E>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingBody")
            .field("invocation", &self.invocation)
            .finish_non_exhaustive()
    }
}

impl<B, H, Req, E> StreamingBody<B, H, Req, E>
where
    H: InvocationHook<Req, http::Response<Streamed>, E>,
{
    /// The response to send: the head as the hooks left it, the handler's body, and what
    /// finishes the invocation when the body ends.
    fn respond(
        head: http::Response<Streamed>,
        body: Option<B>,
        hook: H,
        state: H::State,
        invocation: Option<Invocation>,
    ) -> http::Response<Self> {
        let (parts, streamed) = head.into_parts();
        // What `finish` gets: the head as sent (extensions aside, which are not `Clone`).
        let mut kept = http::Response::new(streamed);
        *kept.status_mut() = parts.status;
        *kept.version_mut() = parts.version;
        *kept.headers_mut() = parts.headers.clone();
        http::Response::from_parts(
            parts,
            Self {
                inner: body,
                hook: Some(hook),
                state: Some(state),
                head: Some(kept),
                invocation,
                _marker: PhantomData,
            },
        )
    }

    /// A response whose invocation has finished already (the hook answered for a failed
    /// handler).
    fn finished(head: http::Response<Streamed>, body: Option<B>) -> http::Response<Self> {
        let (parts, _) = head.into_parts();
        http::Response::from_parts(
            parts,
            Self {
                inner: body,
                hook: None,
                state: None,
                head: None,
                invocation: None,
                _marker: PhantomData,
            },
        )
    }
}

/// Finishes the invocation of a body that ended (`failure` is `None`), failed or panicked:
/// `stream_failed` first when it failed, then `finish` with the head and the bytes sent.
fn end_of_body<H, Req, E>(
    hook: Option<H>,
    state: Option<H::State>,
    head: Option<http::Response<Streamed>>,
    failure: Option<String>,
) where
    H: InvocationHook<Req, http::Response<Streamed>, E>,
{
    let (Some(hook), Some(mut state), Some(head)) = (hook, state, head) else {
        return;
    };
    let head = head.map(|streamed| Streamed {
        complete: failure.is_none(),
        ..streamed
    });
    if let Some(reason) = failure {
        hook.stream_failed(&mut state, &reason);
    }
    // The response is sent: what `finish` answers cannot change it.
    let _ = hook.finish(state, Ok(head));
}

impl<B, H, Req, E> Body for StreamingBody<B, H, Req, E>
where
    B: Body,
    B::Error: std::fmt::Display,
    H: InvocationHook<Req, http::Response<Streamed>, E>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let invocation = this.invocation.clone();
        let mut step = || {
            let Some(inner) = this.inner.as_mut().as_pin_mut() else {
                return Poll::Ready(None);
            };
            let polled = match catch_unwind(AssertUnwindSafe(|| inner.poll_frame(cx))) {
                Ok(polled) => polled,
                Err(payload) => {
                    let panicked = Panicked::from_payload(payload);
                    crate::panic::unwinding_from(panicked.message(), || this.inner.set(None));
                    if let (Some(hook), Some(state)) = (this.hook.take(), this.state.take()) {
                        hook.panicked(state, &panicked);
                    }
                    panicked.resume()
                }
            };
            let mut end = |failure: Option<String>| {
                end_of_body(
                    this.hook.take(),
                    this.state.take(),
                    this.head.take(),
                    failure,
                );
            };
            match polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let (Some(data), Some(head)) = (frame.data_ref(), this.head.as_mut()) {
                        let sent = u64::try_from(bytes::Buf::remaining(data)).unwrap_or(u64::MAX);
                        let streamed = head.body_mut();
                        streamed.bytes = streamed.bytes.saturating_add(sent);
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(error))) => {
                    end(Some(error.to_string()));
                    Poll::Ready(Some(Err(error)))
                }
                Poll::Ready(None) => {
                    end(None);
                    this.inner.set(None);
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            }
        };
        match invocation {
            Some(invocation) => invocation.sync_scope(step),
            None => step(),
        }
    }

    fn is_end_stream(&self) -> bool {
        // Never ahead of the last poll: the invocation finishes when that poll returns `None`.
        self.inner.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use http_body_util::BodyExt as _;
    use lambda_runtime::Context;
    use tower::ServiceExt as _;

    use super::*;
    use crate::cold_start::ColdStart;

    /// Records what the hook saw, in order.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Recorder {
        fn push(&self, entry: String) {
            self.0.lock().unwrap().push(entry);
        }
        fn log(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl<Req, E: std::fmt::Display> InvocationHook<Req, http::Response<Streamed>, E> for Recorder {
        type Error = E;
        type State = ();
        type Around<F>
            = F
        where
            F: Future<Output = Result<http::Response<Streamed>, E>> + Send + 'static;

        fn start(&self, invocation: Option<&Invocation>, _: &Req) {
            let id = invocation.map_or("-", Invocation::request_id);
            self.push(format!("start {id}"));
        }
        fn around<F>(&self, _: &mut (), handler: F) -> F
        where
            F: Future<Output = Result<http::Response<Streamed>, E>> + Send + 'static,
        {
            handler
        }
        fn finish(
            &self,
            _: (),
            result: Result<http::Response<Streamed>, E>,
        ) -> Result<http::Response<Streamed>, E> {
            match &result {
                Ok(head) => self.push(format!(
                    "finish {} bytes={} complete={} in {}",
                    head.status().as_u16(),
                    head.body().bytes(),
                    head.body().is_complete(),
                    scope()
                )),
                Err(error) => self.push(format!("finish error {error}")),
            }
            result
        }
        fn panicked(&self, _: (), panic: &Panicked) {
            self.push(format!("panicked {} in {}", panic.message(), scope()));
        }
        fn ready_error(&self, error: E) -> E {
            error
        }
        fn stream_failed(&self, _: &mut (), error: &str) {
            self.push(format!("stream_failed {error}"));
        }
    }

    fn scope() -> String {
        Invocation::current().map_or("none".to_owned(), |i| i.request_id().to_owned())
    }

    /// Chunks, then the end, an error or a panic; each poll records the scope it ran in.
    struct Chunks {
        chunks: VecDeque<&'static str>,
        then: &'static str,
        seen: Recorder,
    }

    impl Body for Chunks {
        type Data = bytes::Bytes;
        type Error = String;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            self.seen.push(format!("poll in {}", scope()));
            match self.chunks.pop_front() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from(chunk))))),
                None => match self.then {
                    "error" => Poll::Ready(Some(Err("disk gone".to_owned()))),
                    "panic" => panic!("export corrupted"),
                    _ => Poll::Ready(None),
                },
            }
        }
    }

    fn request(request_id: &str) -> http::Request<String> {
        let mut request = http::Request::new(String::new());
        let mut context = Context::default();
        context.request_id = request_id.to_owned();
        context.deadline = u64::MAX;
        request.extensions_mut().insert(context);
        request
    }

    #[allow(
        clippy::type_complexity,
        reason = "the layered service of a test, named once"
    )]
    fn service(
        hook: &Recorder,
        then: &'static str,
    ) -> StreamingService<
        impl Service<
            http::Request<String>,
            Response = http::Response<Chunks>,
            Error = String,
            Future = impl Future<Output = Result<http::Response<Chunks>, String>> + Send + 'static,
        > + Clone,
        Recorder,
    > {
        let seen = hook.clone();
        InvocationLayer::from_env()
            .with_cold_start_flag(Arc::new(ColdStart::new()))
            .hook(hook.clone())
            .streaming()
            .layer(tower::service_fn(move |request: http::Request<String>| {
                let seen = seen.clone();
                async move {
                    if request.uri().path() == "/fail" {
                        return Err("no export today".to_owned());
                    }
                    Ok(http::Response::new(Chunks {
                        chunks: VecDeque::from(["a,b\n", "c,d\n"]),
                        then,
                        seen,
                    }))
                }
            }))
    }

    #[tokio::test]
    async fn the_invocation_finishes_after_the_last_chunk_and_the_body_runs_in_its_scope() {
        let hook = Recorder::default();
        let response = service(&hook, "end").oneshot(request("r-1")).await.unwrap();
        assert_eq!(hook.log(), ["start r-1"], "not finished with the head");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "a,b\nc,d\n");
        assert_eq!(
            hook.log(),
            [
                "start r-1",
                "poll in r-1",
                "poll in r-1",
                "poll in r-1",
                "finish 200 bytes=8 complete=true in r-1",
            ]
        );
    }

    #[tokio::test]
    async fn a_failing_body_is_told_then_finished_incomplete() {
        let hook = Recorder::default();
        let response = service(&hook, "error")
            .oneshot(request("r-2"))
            .await
            .unwrap();
        let error = response.into_body().collect().await.unwrap_err();
        assert_eq!(error, "disk gone");
        let log = hook.log();
        assert_eq!(
            log[log.len() - 2..],
            [
                "stream_failed disk gone".to_owned(),
                "finish 200 bytes=8 complete=false in r-2".to_owned()
            ]
        );
    }

    #[tokio::test]
    async fn a_panicking_body_runs_panicked_in_scope_and_the_panic_goes_on() {
        let hook = Recorder::default();
        let response = service(&hook, "panic")
            .oneshot(request("r-3"))
            .await
            .unwrap();
        let outcome = catch_panic(|| response.into_body().collect()).await;
        assert_eq!(outcome.err().unwrap().message(), "export corrupted");
        assert_eq!(
            hook.log().last().unwrap(),
            "panicked export corrupted in r-3"
        );
        assert!(!hook.log().iter().any(|e| e.starts_with("finish")));
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_finishes_incomplete() {
        let hook = Recorder::default();
        let response = service(&hook, "end").oneshot(request("r-4")).await.unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a,b\n");
        drop(body);
        assert_eq!(
            hook.log().last().unwrap(),
            "finish 200 bytes=4 complete=false in r-4"
        );
    }

    #[tokio::test]
    async fn a_failing_handler_finishes_at_once() {
        let hook = Recorder::default();
        let mut failing = request("r-5");
        *failing.uri_mut() = "/fail".parse().unwrap();
        let error = service(&hook, "end").oneshot(failing).await.unwrap_err();
        assert_eq!(error, "no export today");
        assert_eq!(hook.log(), ["start r-5", "finish error no export today"]);
    }

    #[test]
    fn streamed_is_an_empty_body_with_an_exact_size() {
        let streamed = Streamed {
            bytes: 42,
            complete: true,
        };
        assert_eq!(streamed.size_hint().exact(), Some(42));
        assert!(streamed.is_end_stream());
    }
}
