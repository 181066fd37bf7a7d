//! Catching a handler's panic so that a layer can still finish its work (flush metrics and
//! buffered logs, close the handler subsegment) before the panic goes on to `lambda_runtime`,
//! which reports it as the invocation's error.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// A panic caught by [`CatchPanic`]: its payload, to be resumed once the layer is done.
pub struct Panicked {
    payload: Box<dyn Any + Send>,
}

impl Panicked {
    /// The panic message when the payload is a string (as `panic!("...")` makes it), or a
    /// fixed text otherwise.
    pub fn message(&self) -> &str {
        if let Some(text) = self.payload.downcast_ref::<&'static str>() {
            text
        } else if let Some(text) = self.payload.downcast_ref::<String>() {
            text
        } else {
            "the handler panicked"
        }
    }

    /// Continues the panic with its original payload (for `lambda_runtime` to catch and report).
    pub fn resume(self) -> ! {
        resume_unwind(self.payload)
    }

    /// The panic's payload.
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.payload
    }

    /// A panic caught with `catch_unwind`.
    pub fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        Self { payload }
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

pin_project! {
    /// A future that turns a panic of the inner call or of its future into
    /// `Err(`[`Panicked`]`)`. Made by [`catch_panic`].
    pub struct CatchPanic<F> {
        // `None` when the call panicked before returning a future.
        #[pin]
        future: Option<F>,
        // The call's panic, until it is returned.
        panic: Option<Panicked>,
    }
}

impl<F> fmt::Debug for CatchPanic<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CatchPanic")
    }
}

/// Runs `f` and returns its panic, if it panics, as a [`Panicked`]: [`catch_panic`] for
/// synchronous code (parsing a batch record before its handler runs, say).
///
/// ```
/// let caught = powertools_core::catch_panic_sync(|| -> u32 { panic!("bad record") });
/// assert_eq!(caught.unwrap_err().message(), "bad record");
/// ```
pub fn catch_panic_sync<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(f)).map_err(Panicked::from_payload)
}

/// Calls `call` (typically `|| inner.call(request)`) and wraps the future it returns so that a
/// panic, in the call itself or in any poll of its future, becomes `Err(Panicked)`.
///
/// Layers use it to do their closing work on every outcome and then [`Panicked::resume`]:
///
/// ```
/// use powertools_core::catch_panic;
///
/// # tokio_test_block_on(async {
/// let outcome = catch_panic(|| async { panic!("boom") as u32 }).await;
/// let panicked = outcome.expect_err("the future panicked");
/// assert_eq!(panicked.message(), "boom");
/// // ... flush, then: panicked.resume()
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub fn catch_panic<F: Future>(call: impl FnOnce() -> F) -> CatchPanic<F> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(future) => CatchPanic {
            future: Some(future),
            panic: None,
        },
        Err(payload) => CatchPanic {
            future: None,
            panic: Some(Panicked { payload }),
        },
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(panicked) = this.panic.take() {
            return Poll::Ready(Err(panicked));
        }
        match this.future.as_pin_mut() {
            Some(future) => match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(Panicked { payload })),
            },
            // Polled again after the call's panic was returned: stay pending, like a fused
            // future would.
            None => Poll::Pending,
        }
    }
}

thread_local! {
    static UNWINDING: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `drop` (typically dropping a handler's future after it panicked with `message`); code
/// that runs meanwhile (a span or guard closing) sees `message` in [`panic_in_progress`].
/// [`crate::InvocationService`] drops a panicked handler this way before its hook runs.
pub fn unwinding_from(message: &str, drop: impl FnOnce()) {
    let previous = UNWINDING.with(|slot| slot.replace(Some(message.to_owned())));
    drop();
    UNWINDING.with(|slot| *slot.borrow_mut() = previous);
}

/// Why whatever closes now is cut short by a panic, if it is: inside [`unwinding_from`], the
/// caught panic's message; while this thread unwinds, a text saying so (the panic's own
/// message is not known yet); otherwise `None`.
pub fn panic_in_progress() -> Option<String> {
    UNWINDING.with(|slot| slot.borrow().clone()).or_else(|| {
        std::thread::panicking()
            .then(|| "panicked: the span was closed while the thread unwound".to_owned())
    })
}

#[cfg(test)]
#[allow(clippy::panic)] // the tests panic on purpose
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_output_through() {
        assert_eq!(catch_panic(|| async { 7 }).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn catches_a_panic_while_polling() {
        let outcome = catch_panic(|| async {
            tokio::task::yield_now().await;
            if true {
                std::panic::panic_any(String::from("late boom"));
            }
            1
        })
        .await;
        assert_eq!(
            outcome.err().map(|p| p.message().to_owned()),
            Some("late boom".into())
        );
    }

    #[tokio::test]
    async fn catches_a_panic_in_the_call() {
        let outcome = catch_panic(|| -> std::future::Ready<u8> {
            std::panic::panic_any("early boom");
        })
        .await;
        assert_eq!(
            outcome.err().map(|p| p.message().to_owned()),
            Some("early boom".into())
        );
    }

    #[test]
    fn the_message_is_seen_only_while_unwinding_from_it() {
        assert_eq!(panic_in_progress(), None);
        let mut seen = None;
        unwinding_from("boom", || seen = panic_in_progress());
        assert_eq!(seen.as_deref(), Some("boom"));
        assert_eq!(panic_in_progress(), None);
    }

    #[test]
    fn resume_continues_the_same_payload() {
        let caught = catch_unwind(|| {
            let panicked = Panicked {
                payload: Box::new(42_u32),
            };
            assert_eq!(panicked.message(), "the handler panicked");
            panicked.resume()
        });
        let payload = caught.err().and_then(|p| p.downcast::<u32>().ok());
        assert_eq!(payload.as_deref(), Some(&42));
    }
}
