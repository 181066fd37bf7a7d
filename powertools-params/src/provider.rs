//! The provider trait and the in-memory provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use powertools_core::BoxFuture;

use crate::error::ParameterError;
use crate::value::RawValue;

/// A backend of parameters. Implementations return [`ParameterError::NotFound`] for a missing
/// name and keep the backend's error as the source of the others.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// One value.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>>;

    /// The values under `path`, by name relative to it (for providers that have paths).
    fn get_multiple<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, RawValue)>, ParameterError>> {
        Box::pin(async move {
            Err(ParameterError::Unsupported {
                name: path.to_owned(),
            })
        })
    }
}

/// `impl Provider for $pointer<P>`, forwarding every call to the provider pointed to.
macro_rules! forward_provider {
    ($(#[$doc:meta])* $pointer:ident) => {
        $(#[$doc])*
        impl<P: Provider + ?Sized> Provider for $pointer<P> {
            fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
                (**self).get(name)
            }

            fn get_multiple<'a>(
                &'a self,
                path: &'a str,
            ) -> BoxFuture<'a, Result<Vec<(String, RawValue)>, ParameterError>> {
                (**self).get_multiple(path)
            }
        }
    };
}

forward_provider!(
    /// A boxed provider is a provider: `Parameters<Box<dyn Provider>>` holds any of them, so
    /// that an application's state need not be generic over the provider (an
    /// [`InMemoryProvider`] in tests, `SsmProvider` in Lambda).
    Box
);
forward_provider!(
    /// A shared provider is a provider (a test keeping a handle to count calls).
    Arc
);

/// Values in memory (the embedded default, and tests): counts its calls and can be told to fail.
///
/// ```
/// use std::sync::Arc;
///
/// use powertools_params::{InMemoryProvider, Parameters};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let provider = Arc::new(InMemoryProvider::new());
/// provider.set("/orders/max", "10");
/// let parameters = Parameters::builder(Arc::clone(&provider)).build()?;
/// assert_eq!(parameters.get_json::<u32>("/orders/max").await?, 10);
/// assert_eq!(parameters.get("/orders/max").await?, "10"); // from the cache
/// assert_eq!(provider.calls(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryProvider {
    values: Mutex<HashMap<String, RawValue>>,
    calls: AtomicUsize,
    failing: AtomicBool,
}

impl InMemoryProvider {
    /// An empty provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a text value.
    pub fn set(&self, name: impl Into<String>, value: impl Into<String>) {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), RawValue::Text(value.into()));
    }

    /// Sets a binary value.
    pub fn set_binary(&self, name: impl Into<String>, value: Vec<u8>) {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), RawValue::Binary(value));
    }

    /// Makes every call (`get` and `get_multiple`) fail as a backend failure (or succeed
    /// again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many calls reached this provider.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts a call for `name`, gives other tasks a turn (like a network call would:
    /// concurrent callers overlap), and fails it when told to.
    async fn call(&self, name: &str) -> Result<(), ParameterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio_yield().await;
        if self.failing.load(Ordering::SeqCst) {
            return Err(ParameterError::Backend {
                name: name.to_owned(),
                source: "the in-memory provider was told to fail".into(),
            });
        }
        Ok(())
    }
}

impl Provider for InMemoryProvider {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
        Box::pin(async move {
            self.call(name).await?;
            self.values
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(name)
                .cloned()
                .ok_or_else(|| ParameterError::not_found(name))
        })
    }

    fn get_multiple<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, RawValue)>, ParameterError>> {
        Box::pin(async move {
            self.call(path).await?;
            let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(sorted_by_name(
                values
                    .iter()
                    .filter_map(|(k, v)| {
                        relative_to(path, k).map(|rel| (rel.to_owned(), v.clone()))
                    })
                    .collect(),
            ))
        })
    }
}

/// `name` relative to `path` (`/a/b/c` under `/a` or `/a/` is `b/c`), if it is under it.
pub(crate) fn relative_to<'n>(path: &str, name: &'n str) -> Option<&'n str> {
    name.strip_prefix(path.trim_end_matches('/'))?
        .strip_prefix('/')
}

/// `values` sorted by name.
pub(crate) fn sorted_by_name(mut values: Vec<(String, RawValue)>) -> Vec<(String, RawValue)> {
    values.sort_by(|a, b| a.0.cmp(&b.0));
    values
}

/// Gives other tasks a turn once (no runtime dependency).
async fn tokio_yield() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}
