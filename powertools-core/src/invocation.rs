//! The invocation scope: what "this invocation" is, available to any code running inside it.
//!
//! The [`InvocationLayer`](crate::InvocationLayer) opens a scope around each handler call. Inside
//! it, [`Invocation::current`] returns the request id, invoked ARN, deadline, parsed trace
//! header and cold-start flag of *this* invocation, even when several invocations run
//! concurrently in one process (Lambda Managed Instances). The scope is task-local: it follows
//! the handler's future, not the thread, and it is never written to environment variables.
//!
//! A task started with `tokio::spawn` does not inherit it: use [`spawn`] (or
//! [`Invocation::scope`]) to carry it over.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::futures::TaskLocalFuture;

use crate::config::FunctionConfig;
use crate::trace_header::{TraceHeader, TraceHeaderError};

tokio::task_local! {
    static CURRENT: Invocation;
}

/// The trace context Lambda passed with the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceContext {
    /// No trace header (tracing not active for the function).
    Absent,
    /// A well-formed header.
    Valid(TraceHeader),
    /// A header that could not be parsed: tracing is off for this invocation.
    Malformed {
        /// The header as received.
        raw: String,
        /// Why it was rejected.
        error: TraceHeaderError,
    },
}

impl TraceContext {
    /// Parses an optional raw header.
    pub fn from_header(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            None | Some("") => Self::Absent,
            Some(raw) => match TraceHeader::parse(raw) {
                Ok(header) => Self::Valid(header),
                Err(error) => Self::Malformed {
                    raw: raw.to_owned(),
                    error,
                },
            },
        }
    }

    /// The parsed header, when valid.
    pub fn header(&self) -> Option<&TraceHeader> {
        match self {
            Self::Valid(header) => Some(header),
            _ => None,
        }
    }
}

/// Per-invocation state of the utilities, keyed by type.
///
/// Each utility keeps what belongs to one invocation (appended log keys, the log buffer, the
/// metric set, open subsegments) here, so it vanishes with the invocation and never mixes with
/// a concurrent one.
#[derive(Default)]
pub struct Extensions {
    // A handful of entries (one per utility): a vector scan beats hashing a TypeId.
    map: Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.map.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Extensions").field("len", &len).finish()
    }
}

impl Extensions {
    fn with_map<R>(
        &self,
        f: impl FnOnce(&mut Vec<(TypeId, Arc<dyn Any + Send + Sync>)>) -> R,
    ) -> R {
        match self.map.lock() {
            Ok(mut map) => f(&mut map),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let id = TypeId::of::<T>();
        self.with_map(|map| {
            map.iter()
                .find(|(k, _)| *k == id)
                .map(|(_, v)| Arc::clone(v))
        })
        .and_then(|any| any.downcast::<T>().ok())
    }

    /// The value of type `T`, storing `init()` first if there is none. `init` runs under the
    /// map's lock: it must not touch these extensions itself.
    pub fn get_or_insert_with<T: Send + Sync + 'static>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let id = TypeId::of::<T>();
        self.with_map(|map| {
            if let Some(existing) = map
                .iter()
                .find(|(k, _)| *k == id)
                .and_then(|(_, any)| Arc::clone(any).downcast::<T>().ok())
            {
                return existing;
            }
            let value = Arc::new(init());
            map.push((id, Arc::clone(&value) as Arc<dyn Any + Send + Sync>));
            value
        })
    }

    /// Stores `value`, replacing any value of the same type; returns the old one.
    pub fn insert<T: Send + Sync + 'static>(&self, value: T) -> Option<Arc<T>> {
        let id = TypeId::of::<T>();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        self.with_map(|map| match map.iter_mut().find(|(k, _)| *k == id) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                map.push((id, value));
                None
            }
        })
        .and_then(|any| any.downcast::<T>().ok())
    }
}

/// The next [`Invocation::serial`] (a `u64` counter: not exhausted in the life of a process).
fn next_serial() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

struct Inner {
    request_id: String,
    function_arn: String,
    deadline_ms: u64,
    tenant_id: Option<String>,
    trace: TraceContext,
    cold_start: bool,
    config: Arc<FunctionConfig>,
    extensions: Extensions,
    /// Responses replayed in this invocation (idempotency), read by the metrics flush.
    replays: std::sync::atomic::AtomicU32,
    /// Unique within the process, never 0 and never reused ([`Invocation::serial`]).
    serial: u64,
}

/// One invocation of the function: its identity, deadline, trace context and cold-start flag,
/// plus the utilities' per-invocation state. Cheap to clone (an `Arc`).
///
/// ```
/// use powertools_core::Invocation;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let invocation = Invocation::builder("req-1").deadline_ms(u64::MAX).build();
/// invocation
///     .scope(async {
///         let current = Invocation::current().expect("inside the scope");
///         assert_eq!(current.request_id(), "req-1");
///     })
///     .await;
/// assert!(Invocation::current().is_none());
/// # }
/// ```
#[derive(Clone)]
pub struct Invocation {
    inner: Arc<Inner>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("request_id", &self.inner.request_id)
            .field("function_arn", &self.inner.function_arn)
            .field("deadline_ms", &self.inner.deadline_ms)
            .field("trace", &self.inner.trace)
            .field("cold_start", &self.inner.cold_start)
            .finish_non_exhaustive()
    }
}

impl Invocation {
    /// Starts building an invocation (the layer does this from the Lambda context; tests and
    /// custom runtimes may do it by hand).
    pub fn builder(request_id: impl Into<String>) -> InvocationBuilder {
        InvocationBuilder {
            request_id: request_id.into(),
            function_arn: String::new(),
            deadline_ms: 0,
            tenant_id: None,
            trace_header: None,
            cold_start: false,
            config: None,
        }
    }

    /// Builds the invocation for a Lambda context.
    pub fn from_context(
        context: &lambda_runtime::Context,
        config: Arc<FunctionConfig>,
        cold_start: bool,
    ) -> Self {
        let mut builder = Self::builder(context.request_id.clone())
            .function_arn(context.invoked_function_arn.clone())
            .deadline_ms(context.deadline)
            .cold_start(cold_start)
            .config(config);
        if let Some(header) = &context.xray_trace_id {
            builder = builder.trace_header(header.clone());
        }
        if let Some(tenant) = &context.tenant_id {
            builder = builder.tenant_id(tenant.clone());
        }
        builder.build()
    }

    /// The invocation whose scope the caller runs in, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Calls `f` with the current invocation without cloning it; `None` outside any scope.
    pub fn with_current<R>(f: impl FnOnce(&Self) -> R) -> Option<R> {
        CURRENT.try_with(f).ok()
    }

    /// Runs `future` inside this invocation's scope.
    pub fn scope<F: Future>(self, future: F) -> TaskLocalFuture<Self, F> {
        CURRENT.scope(self, future)
    }

    /// Runs the closure `f` inside this invocation's scope (for synchronous code, e.g. in
    /// `spawn_blocking`).
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }

    /// The Lambda request id.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// The ARN the function was invoked with (may carry a version or alias).
    pub fn function_arn(&self) -> &str {
        &self.inner.function_arn
    }

    /// The deadline in epoch milliseconds.
    pub fn deadline_ms(&self) -> u64 {
        self.inner.deadline_ms
    }

    /// The deadline.
    pub fn deadline(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.inner.deadline_ms)
    }

    /// Time left before the deadline, measured against the system clock (zero once passed).
    pub fn remaining_time(&self) -> Duration {
        self.remaining_time_at(SystemTime::now())
    }

    /// Time left before the deadline at `now` (zero once passed). For injected clocks.
    pub fn remaining_time_at(&self, now: SystemTime) -> Duration {
        self.deadline()
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }

    /// The tenant id, for functions with tenant isolation.
    pub fn tenant_id(&self) -> Option<&str> {
        self.inner.tenant_id.as_deref()
    }

    /// The trace context as received (absent, valid or malformed).
    pub fn trace(&self) -> &TraceContext {
        &self.inner.trace
    }

    /// The parsed trace header, when a valid one was received.
    pub fn trace_header(&self) -> Option<&TraceHeader> {
        self.inner.trace.header()
    }

    /// The X-Ray trace id (the header's `Root`), when a valid header was received.
    pub fn xray_trace_id(&self) -> Option<&str> {
        self.trace_header().map(TraceHeader::root)
    }

    /// Whether this invocation is the process's cold start.
    pub fn is_cold_start(&self) -> bool {
        self.inner.cold_start
    }

    /// Records that a stored response was replayed in this invocation instead of running the
    /// handler (what `powertools-idempotency` does on a duplicate). The other utilities read it:
    /// a replay counts as the invocation's work for the metrics' `raise_on_empty_metrics`.
    pub fn record_replay(&self) {
        self.inner
            .replays
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many stored responses were replayed in this invocation (see
    /// [`record_replay`](Self::record_replay)).
    pub fn replays(&self) -> u32 {
        self.inner
            .replays
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The function configuration this invocation runs under.
    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// The utilities' per-invocation state.
    pub fn extensions(&self) -> &Extensions {
        &self.inner.extensions
    }

    /// Whether two handles refer to the same invocation scope.
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A number that identifies this invocation scope within the process: never 0, never
    /// given to another scope (unlike an address, which a later scope may reuse). Clones share
    /// it; the request id does not identify a scope (a test may open two with the same id).
    ///
    /// ```
    /// use powertools_core::Invocation;
    ///
    /// let a = Invocation::builder("req-1").build();
    /// let b = Invocation::builder("req-1").build();
    /// assert_ne!(a.serial(), b.serial());
    /// assert_eq!(a.serial(), a.clone().serial());
    /// assert_ne!(a.serial(), 0);
    /// ```
    pub fn serial(&self) -> u64 {
        self.inner.serial
    }
}

/// Builds an [`Invocation`].
#[derive(Debug)]
#[must_use]
pub struct InvocationBuilder {
    request_id: String,
    function_arn: String,
    deadline_ms: u64,
    tenant_id: Option<String>,
    trace_header: Option<String>,
    cold_start: bool,
    config: Option<Arc<FunctionConfig>>,
}

impl InvocationBuilder {
    /// Sets the invoked function ARN.
    pub fn function_arn(mut self, arn: impl Into<String>) -> Self {
        self.function_arn = arn.into();
        self
    }

    /// Sets the deadline, in epoch milliseconds.
    pub fn deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = deadline_ms;
        self
    }

    /// Sets the tenant id.
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// Sets the raw X-Ray trace header; it is parsed leniently by `build`.
    pub fn trace_header(mut self, header: impl Into<String>) -> Self {
        self.trace_header = Some(header.into());
        self
    }

    /// Marks the invocation as the cold start (or not).
    pub fn cold_start(mut self, cold: bool) -> Self {
        self.cold_start = cold;
        self
    }

    /// Sets the function configuration (default: an empty one).
    pub fn config(mut self, config: Arc<FunctionConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// Builds the invocation. Infallible: a malformed trace header is kept as
    /// [`TraceContext::Malformed`].
    pub fn build(self) -> Invocation {
        Invocation {
            inner: Arc::new(Inner {
                trace: TraceContext::from_header(self.trace_header.as_deref()),
                request_id: self.request_id,
                function_arn: self.function_arn,
                deadline_ms: self.deadline_ms,
                tenant_id: self.tenant_id,
                cold_start: self.cold_start,
                config: self.config.unwrap_or_default(),
                extensions: Extensions::default(),
                replays: std::sync::atomic::AtomicU32::new(0),
                serial: next_serial(),
            }),
        }
    }
}

/// Spawns `future` on the tokio runtime inside the current invocation's scope (if any), so that
/// logs, metrics and traces from the task are attributed to the invocation.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Invocation::current() {
        Some(invocation) => tokio::spawn(invocation.scope(future)),
        None => tokio::spawn(future),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_header::Sampling;

    #[test]
    fn replays_are_counted_per_invocation_and_shared_by_clones() {
        let inv = Invocation::builder("r").build();
        let other = Invocation::builder("s").build();
        assert_eq!(inv.replays(), 0);
        inv.clone().record_replay();
        inv.record_replay();
        assert_eq!(inv.replays(), 2);
        assert_eq!(other.replays(), 0);
    }

    #[test]
    fn builder_parses_trace_header_leniently() {
        let inv = Invocation::builder("r")
            .trace_header("Sampled=1;Root=1-5759e988-bd862e3fe1be46a994272793")
            .build();
        assert_eq!(
            inv.xray_trace_id(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(
            inv.trace_header().map(TraceHeader::sampling),
            Some(Sampling::Sampled)
        );

        let bad = Invocation::builder("r").trace_header("nonsense").build();
        assert!(matches!(bad.trace(), TraceContext::Malformed { raw, .. } if raw == "nonsense"));
        assert_eq!(bad.xray_trace_id(), None);

        let none = Invocation::builder("r").trace_header("  ").build();
        assert_eq!(none.trace(), &TraceContext::Absent);
    }

    #[test]
    fn remaining_time_saturates_at_zero() {
        let inv = Invocation::builder("r").deadline_ms(10_000).build();
        assert_eq!(
            inv.remaining_time_at(UNIX_EPOCH + Duration::from_millis(7_500)),
            Duration::from_millis(2_500)
        );
        assert_eq!(
            inv.remaining_time_at(UNIX_EPOCH + Duration::from_secs(60)),
            Duration::ZERO
        );
    }

    #[test]
    fn extensions_are_typed_and_shared() {
        #[derive(Debug, PartialEq)]
        struct Counter(u32);
        let inv = Invocation::builder("r").build();
        assert!(inv.extensions().get::<Counter>().is_none());
        let a = inv.extensions().get_or_insert_with(|| Counter(1));
        let b = inv.extensions().get_or_insert_with(|| Counter(2));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*b, Counter(1));
        assert_eq!(
            inv.extensions().insert(Counter(3)).as_deref(),
            Some(&Counter(1))
        );
        assert_eq!(
            inv.extensions().get::<Counter>().as_deref(),
            Some(&Counter(3))
        );
        assert!(inv.extensions().get::<String>().is_none());
    }

    #[test]
    fn sync_scope_and_no_scope_outside() {
        assert!(Invocation::current().is_none());
        let inv = Invocation::builder("sync").build();
        let seen = inv.sync_scope(|| Invocation::with_current(|i| i.request_id().to_owned()));
        assert_eq!(seen.as_deref(), Some("sync"));
        assert!(Invocation::current().is_none());
    }

    #[tokio::test]
    async fn spawn_carries_the_scope_and_tokio_spawn_does_not() {
        let inv = Invocation::builder("parent").build();
        let (carried, plain) = inv
            .scope(async {
                let carried =
                    spawn(async { Invocation::current().map(|i| i.request_id().to_owned()) });
                let plain = tokio::spawn(async {
                    Invocation::current().map(|i| i.request_id().to_owned())
                });
                (carried.await.ok().flatten(), plain.await.ok().flatten())
            })
            .await;
        assert_eq!(carried.as_deref(), Some("parent"));
        assert_eq!(plain, None);
    }
}
