//! One fetch per name at a time: the parameters client's single-flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The lock of each name being fetched, shared by every caller fetching it meanwhile.
#[derive(Debug, Default)]
pub(crate) struct FetchLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl FetchLocks {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other caller is fetching `name`; the fetch is this caller's while the
    /// returned guard lives.
    pub(crate) async fn fetching(&self, name: &str) -> FetchGuard<'_> {
        let lock = {
            let mut locks = self.lock();
            match locks.get(name) {
                Some(lock) => Arc::clone(lock),
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(name.to_owned(), Arc::clone(&lock));
                    lock
                }
            }
        };
        let guard = Arc::clone(&lock).lock_owned().await;
        FetchGuard {
            locks: self,
            name: name.to_owned(),
            lock,
            guard: Some(guard),
        }
    }
}

/// One caller's turn to fetch a name (see [`FetchLocks::fetching`]). Dropped, also when the
/// fetch is cancelled, it lets the next caller in, and forgets the name's lock once no caller
/// holds it.
pub(crate) struct FetchGuard<'a> {
    locks: &'a FetchLocks,
    name: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock();
        // Held by the map and by this guard alone: no caller waits (they clone it under the
        // same lock).
        if Arc::strong_count(&self.lock) == 2
            && locks
                .get(&self.name)
                .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            locks.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_s_fetch_lock_is_shared_while_held_and_forgotten_after() {
        let locks = FetchLocks::default();
        let first = locks.fetching("a").await;
        // Another name is not held up.
        drop(locks.fetching("b").await);
        let waiter = locks.fetching("a");
        tokio::pin!(waiter);
        assert!(
            poll_once(waiter.as_mut()).await.is_none(),
            "a second fetch of the same name waits"
        );
        drop(first);
        let second = waiter.await;
        drop(second);
        assert!(locks.lock().is_empty());
    }

    /// Polls `future` once: `Some` if it was ready.
    async fn poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
