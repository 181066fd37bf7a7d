//! The provider trait and the in-memory provider.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::error::ParameterError;
use crate::value::RawValue;

/// A boxed, sendable future (providers are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
            Err(ParameterError::Unsupported(format!(
                "this provider cannot list the values under {path:?}"
            )))
        })
    }
}

/// Values in memory (the embedded default, and tests): counts its calls and can be told to fail.
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

    /// Makes every call fail as a backend failure (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many calls reached this provider.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Provider for InMemoryProvider {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            // Yield, like a network call would: concurrent callers overlap.
            tokio_yield().await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(ParameterError::Backend {
                    name: name.to_owned(),
                    source: "the in-memory provider was told to fail".into(),
                });
            }
            self.values
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(name)
                .cloned()
                .ok_or_else(|| ParameterError::NotFound {
                    name: name.to_owned(),
                })
        })
    }

    fn get_multiple<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, RawValue)>, ParameterError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let prefix = format!("{}/", path.trim_end_matches('/'));
            let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
            let mut found: Vec<(String, RawValue)> = values
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&prefix)
                        .map(|rel| (rel.to_owned(), v.clone()))
                })
                .collect();
            found.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(found)
        })
    }
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
