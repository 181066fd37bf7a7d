//! The HTTP settings of an [`Idempotency`](crate::Idempotency), as the builder made them (a leaf:
//! the engine holds them, the hook in `http` reads them).

use std::sync::Arc;

use http::header::HeaderName;
use http::{Method, StatusCode};

/// Decides from a response's status whether it is stored (and replayed).
pub(crate) type StatusFilter = dyn Fn(StatusCode) -> bool + Send + Sync;

/// The HTTP settings of an [`Idempotency`] (made by the builder).
#[derive(Clone)]
pub(crate) struct HttpConfig {
    pub(crate) key_header: Option<HeaderName>,
    pub(crate) methods: Vec<Method>,
    pub(crate) store_status: Arc<StatusFilter>,
}

impl HttpConfig {
    /// The methods made idempotent by default: the unsafe ones (RFC 9110 §9.2.1).
    pub(crate) fn default_methods() -> Vec<Method> {
        vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE]
    }

    /// By default only successful (2xx) responses are stored.
    pub(crate) fn default_store_status() -> Arc<StatusFilter> {
        Arc::new(|status: StatusCode| status.is_success())
    }
}
