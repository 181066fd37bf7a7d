//! The builder: what an [`Idempotency`] is made of, validated once.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use powertools_core::CommonConfig;
use powertools_jmespath::Expression;
use serde::Serialize;
use serde_json::Value;

use crate::engine::{Idempotency, Inner, ReplayHook};
use crate::error::{IdempotencyConfigError, KeySelectionError};
use crate::hash::HashMode;
use crate::key::{KeyFn, KeySource};
use crate::record::{Record, RecordFormat, Store};
use crate::response::DEFAULT_MAX_STORED_RESPONSE_BYTES;

impl Idempotency {
    /// A builder over `store` (an `Arc<S>` or a `Box<S>` of a store is a store too, so one
    /// store can be shared).
    pub fn builder(store: impl Store + 'static) -> IdempotencyBuilder {
        IdempotencyBuilder::new(Arc::new(store))
    }
}

/// Builds [`Idempotency`].
///
/// ```
/// use std::time::Duration;
///
/// use powertools_idempotency::{Idempotency, InMemoryStore};
///
/// let idempotency = Idempotency::builder(InMemoryStore::new())
///     .event_key_jmespath("powertools_json(body).order_id") // the key: a field of the body
///     .payload_validation_jmespath("powertools_json(body).amount") // a reused key, another amount: refused
///     .expires_after(Duration::from_secs(24 * 3600))
///     .raise_on_no_idempotency_key(true)
///     .key_prefix("orders-api.create_order")
///     .build()?;
/// assert_eq!(idempotency.key_prefix(), "orders-api.create_order");
/// # Ok::<(), powertools_idempotency::IdempotencyConfigError>(())
/// ```
#[must_use]
pub struct IdempotencyBuilder {
    store: Arc<dyn Store>,
    common: CommonConfig,
    key: Option<String>,
    key_fn: Option<Arc<KeyFn>>,
    validation: Option<String>,
    raise_on_no_key: bool,
    expires_after: Duration,
    in_progress_expiry: Option<Duration>,
    prefix: Option<String>,
    handler_name: Option<String>,
    hash_mode: HashMode,
    record_format: RecordFormat,
    typescript: bool,
    disabled: Option<bool>,
    cache: Option<(u64, Duration)>,
    max_stored_response_bytes: usize,
    on_replay: Option<Arc<ReplayHook>>,
    #[cfg(feature = "http")]
    http_key_header: Option<String>,
    #[cfg(feature = "http")]
    http_methods: Vec<http::Method>,
    #[cfg(feature = "http")]
    http_store_status: Arc<crate::http::config::StatusFilter>,
}

impl std::fmt::Debug for IdempotencyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyBuilder")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The longest a record is kept in the local cache (any longer is for ever, in practice).
const MAX_LOCAL_CACHE_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);

/// The local cache's TTL: `ttl`, but never longer than a record lives (`expires_after`: an
/// expired record is never replayed from the cache anyway) nor than [`MAX_LOCAL_CACHE_TTL`].
fn local_cache_ttl(ttl: Duration, expires_after: Duration) -> Duration {
    ttl.min(expires_after).min(MAX_LOCAL_CACHE_TTL)
}

impl IdempotencyBuilder {
    fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            common: CommonConfig::default(),
            key: None,
            key_fn: None,
            validation: None,
            raise_on_no_key: false,
            expires_after: Duration::from_secs(3_600),
            in_progress_expiry: None,
            prefix: None,
            handler_name: None,
            hash_mode: HashMode::Python,
            record_format: RecordFormat::Python,
            typescript: false,
            disabled: None,
            cache: None,
            max_stored_response_bytes: DEFAULT_MAX_STORED_RESPONSE_BYTES,
            on_replay: None,
            #[cfg(feature = "http")]
            http_key_header: None,
            #[cfg(feature = "http")]
            http_methods: crate::http::config::HttpConfig::default_methods(),
            #[cfg(feature = "http")]
            http_store_status: crate::http::config::HttpConfig::default_store_status(),
        }
    }

    powertools_core::common_setters!(common);

    /// Selects the part of the payload the key is made of (JMESPath with the Powertools
    /// functions), e.g. `powertools_json(body)`. Default: the whole payload.
    pub fn event_key_jmespath(mut self, path: impl Into<String>) -> Self {
        self.key = Some(path.into());
        self
    }

    /// Makes the key from the payload read as `T`, with a typed function (instead of a JMESPath
    /// expression). `None`, or a payload that is not a `T`, means "no key".
    ///
    /// ```
    /// # use powertools_idempotency::{Idempotency, InMemoryStore};
    /// #[derive(serde::Deserialize)]
    /// struct Payment { payment_id: String, amount_cents: u64 }
    ///
    /// let idempotency = Idempotency::builder(InMemoryStore::new())
    ///     .event_key_fn(|p: &Payment| Some(p.payment_id.clone()))
    ///     .build()
    ///     .unwrap();
    /// # let _ = idempotency;
    /// ```
    pub fn event_key_fn<T, K, F>(mut self, f: F) -> Self
    where
        T: serde::de::DeserializeOwned,
        K: Serialize,
        F: Fn(&T) -> Option<K> + Send + Sync + 'static,
    {
        self.key_fn = Some(Arc::new(move |payload: &Value| {
            let typed = T::deserialize(payload).map_err(KeySelectionError::PayloadType)?;
            match f(&typed) {
                Some(key) => serde_json::to_value(key).map_err(KeySelectionError::Key),
                None => Ok(Value::Null),
            }
        }));
        self
    }

    /// Selects a part of the payload that must equal the first call's, or the replay is refused
    /// with [`IdempotencyError::Validation`](crate::IdempotencyError::Validation).
    pub fn payload_validation_jmespath(mut self, path: impl Into<String>) -> Self {
        self.validation = Some(path.into());
        self
    }

    /// Makes a payload without a key an error instead of a warning (and a non-idempotent run).
    pub fn raise_on_no_idempotency_key(mut self, on: bool) -> Self {
        self.raise_on_no_key = on;
        self
    }

    /// How long a completed record is replayed (default 1 hour).
    pub fn expires_after(mut self, duration: Duration) -> Self {
        self.expires_after = duration;
        self
    }

    /// How long an in-progress record blocks duplicates; default: until the invocation's
    /// deadline (so a crashed invocation's record expires with it). Outside an invocation scope
    /// there is no deadline: without this setting, a crashed call blocks its key until
    /// `expires_after`.
    pub fn in_progress_expiry(mut self, duration: Duration) -> Self {
        self.in_progress_expiry = Some(duration);
        self
    }

    /// A fixed key prefix, e.g. the one a Powertools for Python function used
    /// (`my-function.app.lambda_handler`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The handler name in the default prefix `<function>.<handler>` (else `_HANDLER`, else
    /// `handler`).
    pub fn handler_name(mut self, name: impl Into<String>) -> Self {
        self.handler_name = Some(name.into());
        self
    }

    /// Hashes like Powertools for TypeScript instead of Python (prefer
    /// [`typescript_compatible`](Self::typescript_compatible), which sets everything a shared
    /// table needs).
    pub fn hash_mode(mut self, mode: HashMode) -> Self {
        self.hash_mode = mode;
        self
    }

    /// How completed responses are written: JSON text (Python's form, the default) or native
    /// DynamoDB values (TypeScript's). Reading accepts both (see [`RecordFormat`]).
    pub fn record_format(mut self, format: RecordFormat) -> Self {
        self.record_format = format;
        self
    }

    /// Shares records with functions written with Powertools for AWS Lambda (TypeScript), both
    /// ways: its hash ([`HashMode::TypeScript`]), its record format
    /// ([`RecordFormat::TypeScript`]), its default key prefix (the function name alone:
    /// `<function>#<hash>`), and its rules for a payload without a key (skipped only when a key
    /// path selects null; with [`raise_on_no_idempotency_key`](Self::raise_on_no_idempotency_key),
    /// any falsy selection is refused). Set the same key and validation paths as the
    /// TypeScript function.
    pub fn typescript_compatible(mut self) -> Self {
        self.hash_mode = HashMode::TypeScript;
        self.record_format = RecordFormat::TypeScript;
        self.typescript = true;
        self
    }

    /// Turns idempotency off (else `POWERTOOLS_IDEMPOTENCY_DISABLED`).
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Keeps up to `capacity` completed records in process for `ttl`, so that a hot replay
    /// costs no store request. The TTL is cut to `expires_after` (an expired record is never
    /// replayed) and to 100 years.
    pub fn local_cache(mut self, capacity: u64, ttl: Duration) -> Self {
        self.cache = Some((capacity, ttl));
        self
    }

    /// The largest response stored (bytes of `data`; default 400 KiB less 8 KiB, under
    /// DynamoDB's 400 KB item limit). A response whose JSON is larger is stored gzip-compressed
    /// (base64, after the prefix `gzip+base64:`) when that fits; otherwise it is returned to its
    /// caller but not stored, the record is removed and a duplicate runs the handler again (a
    /// warning on stderr says so).
    pub fn max_stored_response_bytes(mut self, bytes: usize) -> Self {
        self.max_stored_response_bytes = bytes;
        self
    }

    /// Called with the stored record whenever a response is replayed.
    pub fn on_replay<F: Fn(&Record) + Send + Sync + 'static>(mut self, hook: F) -> Self {
        self.on_replay = Some(Arc::new(hook));
        self
    }

    /// HTTP functions: keys a request by the value of the header field `name` (e.g.
    /// `"Idempotency-Key"`, as the IETF draft "The Idempotency-Key HTTP Header Field" names it)
    /// instead of its body. A fingerprint of the request (method, path and body; or the part
    /// [`payload_validation_jmespath`](Self::payload_validation_jmespath) selects from the JSON
    /// body, when set) is stored with the response: a key reused with another payload is
    /// answered `422`. A value written as a Structured Field string (`"..."`) is unquoted.
    #[cfg(feature = "http")]
    pub fn http_key_header(mut self, name: impl Into<String>) -> Self {
        self.http_key_header = Some(name.into());
        self
    }

    /// HTTP functions: a request without a key (no key header, or no key in the body) is
    /// answered `400` instead of running without idempotency. The same setting as
    /// [`raise_on_no_idempotency_key`](Self::raise_on_no_idempotency_key), named for HTTP.
    #[cfg(feature = "http")]
    pub fn http_key_required(self, required: bool) -> Self {
        self.raise_on_no_idempotency_key(required)
    }

    /// HTTP functions: the request methods made idempotent (default `POST`, `PUT`, `PATCH`,
    /// `DELETE`); requests with any other method (`GET`, `HEAD`, `OPTIONS`, ...) pass through.
    #[cfg(feature = "http")]
    pub fn http_methods(mut self, methods: impl IntoIterator<Item = http::Method>) -> Self {
        self.http_methods = methods.into_iter().collect();
        self
    }

    /// HTTP functions: which response statuses are stored and replayed (default: 2xx). A
    /// response with any other status is returned and not stored: its claim is deleted, as
    /// after a handler error, so a retry runs the handler again.
    ///
    /// ```
    /// # use powertools_idempotency::{Idempotency, InMemoryStore};
    /// let idempotency = Idempotency::builder(InMemoryStore::new())
    ///     .http_key_header("Idempotency-Key")
    ///     .store_http_statuses(|status| status.is_success() || status == http::StatusCode::NOT_FOUND)
    ///     .build()
    ///     .unwrap();
    /// # let _ = idempotency;
    /// ```
    #[cfg(feature = "http")]
    pub fn store_http_statuses(
        mut self,
        stored: impl Fn(http::StatusCode) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.http_store_status = Arc::new(stored);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Idempotency, IdempotencyConfigError> {
        let compile =
            |path: &Option<String>| -> Result<Option<Expression>, IdempotencyConfigError> {
                path.as_deref()
                    .map(|p| Expression::compile(p).map_err(IdempotencyConfigError::InvalidPath))
                    .transpose()
            };
        let key = match self.key_fn {
            Some(f) => Some(KeySource::Function(f)),
            None => compile(&self.key)?.map(KeySource::Path),
        };
        let validation = compile(&self.validation)?;
        if self.expires_after.as_secs() == 0 {
            return Err(IdempotencyConfigError::ZeroExpiry);
        }
        #[cfg(feature = "http")]
        let http = crate::http::config::HttpConfig {
            key_header: self
                .http_key_header
                .map(|name| {
                    http::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| IdempotencyConfigError::InvalidHeaderName(name))
                })
                .transpose()?,
            methods: self.http_methods,
            store_status: self.http_store_status,
        };
        let common = self.common.resolve()?;
        let prefix = match self.prefix {
            Some(prefix) if prefix.trim().is_empty() => {
                return Err(IdempotencyConfigError::EmptyPrefix);
            }
            Some(prefix) => prefix,
            // Powertools for TypeScript: the function name alone (empty outside Lambda).
            None if self.typescript => common
                .function_config()
                .function_name()
                .unwrap_or_default()
                .to_owned(),
            None => {
                let handler = self
                    .handler_name
                    .or_else(|| common.env().string("_HANDLER"))
                    .unwrap_or_else(|| "handler".to_owned());
                format!(
                    "{}.{handler}",
                    common.function_config().function_name().unwrap_or("local")
                )
            }
        };
        let disabled = self.disabled.unwrap_or_else(|| {
            common
                .env()
                .bool("POWERTOOLS_IDEMPOTENCY_DISABLED")
                .unwrap_or(false)
        });
        Ok(Idempotency::from_inner(Inner {
            store: self.store,
            key,
            validation,
            raise_on_no_key: self.raise_on_no_key,
            expires_after: self.expires_after,
            in_progress_expiry: self.in_progress_expiry,
            prefix,
            hash_mode: self.hash_mode,
            record_format: self.record_format,
            typescript_key_rules: self.typescript,
            disabled,
            cache: self.cache.map(|(capacity, ttl)| {
                (
                    powertools_core::TtlCache::new(capacity),
                    local_cache_ttl(ttl, self.expires_after),
                )
            }),
            max_stored_response_bytes: self.max_stored_response_bytes,
            on_replay: self.on_replay,
            common,
            warned_no_key: AtomicBool::new(false),
            #[cfg(feature = "http")]
            http,
        }))
    }
}
