//! A correlation id scoped to a piece of work inside an invocation (one record of a batch, one
//! message of a stream): set by whoever runs the work, read by whoever writes about it.

use std::sync::Arc;

tokio::task_local! {
    static SCOPED: Arc<str>;
}

/// Runs `future` with `id` as the correlation id of the work it does, without changing the
/// invocation's: code outside `future` (before, after, or beside it in the same invocation)
/// keeps the invocation's correlation id.
///
/// The logger writes this id as `correlation_id` on the lines written inside; the batch
/// processor sets each record's id this way. Futures run side by side (`join`,
/// `FuturesUnordered`) each keep their own id; a task spawned inside does not inherit it (wrap
/// the spawned future again).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use powertools_core::{scoped_correlation_id, with_correlation_id};
///
/// let inside = with_correlation_id("msg-1", async { scoped_correlation_id() }).await;
/// assert_eq!(inside.as_deref(), Some("msg-1"));
/// assert_eq!(scoped_correlation_id(), None);
/// # });
/// ```
pub fn with_correlation_id<F: Future>(
    id: impl Into<Arc<str>>,
    future: F,
) -> impl Future<Output = F::Output> {
    SCOPED.scope(id.into(), future)
}

/// [`with_correlation_id`] for synchronous code: runs `f` with `id` as its correlation id.
pub fn sync_with_correlation_id<R>(id: impl Into<Arc<str>>, f: impl FnOnce() -> R) -> R {
    SCOPED.sync_scope(id.into(), f)
}

/// The correlation id [`with_correlation_id`] set around the running code, if any.
pub fn scoped_correlation_id() -> Option<Arc<str>> {
    SCOPED.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn side_by_side_futures_keep_their_own_id_and_the_outside_has_none() {
        let (a, b) = tokio::join!(
            with_correlation_id("a", async {
                tokio::task::yield_now().await;
                scoped_correlation_id()
            }),
            with_correlation_id("b", async {
                tokio::task::yield_now().await;
                scoped_correlation_id()
            }),
        );
        assert_eq!(a.as_deref(), Some("a"));
        assert_eq!(b.as_deref(), Some("b"));
        assert_eq!(scoped_correlation_id(), None);
        let nested = with_correlation_id("outer", async {
            with_correlation_id("inner", async { scoped_correlation_id() }).await
        })
        .await;
        assert_eq!(nested.as_deref(), Some("inner"));
        assert_eq!(
            sync_with_correlation_id("sync", scoped_correlation_id).as_deref(),
            Some("sync")
        );
    }
}
