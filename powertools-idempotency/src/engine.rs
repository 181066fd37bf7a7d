//! The idempotency engine: claim, run once, complete or delete, replay.

use std::borrow::Cow;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use lambda_runtime::Diagnostic;
use powertools_core::{Env, FunctionConfig, Invocation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::hash::HashMode;
use crate::jmes::Selector;
use crate::record::{PutOutcome, Record, Status, Store, StoreError};

type Clock = dyn Fn() -> SystemTime + Send + Sync;
type ReplayHook = dyn Fn(&Record) + Send + Sync;
type KeyFn = dyn Fn(&Value) -> Result<Value, String> + Send + Sync;

/// Where the key data comes from.
enum KeySource {
    Path(Selector),
    Function(Arc<KeyFn>),
}

impl KeySource {
    fn select(&self, payload: &Value) -> Result<Value, String> {
        match self {
            Self::Path(selector) => selector.select(payload),
            Self::Function(f) => f(payload),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Path(selector) => selector.as_str().to_owned(),
            Self::Function(_) => "<key function>".to_owned(),
        }
    }
}

/// How many times a claim is tried again when the store and the clock disagree.
const MAX_CLAIM_ATTEMPTS: usize = 3;

/// Why an idempotent call did not return the handler's response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyError<E> {
    /// Another invocation with the same key is running (Lambda `errorType`
    /// `IdempotencyAlreadyInProgressError`): retry later.
    #[error(
        "an invocation with idempotency key {key:?} is already in progress: retry after it completes or its in-progress expiry passes"
    )]
    AlreadyInProgress {
        /// The key.
        key: String,
    },
    /// The stored record was made from a payload that differs in its validated part
    /// (`IdempotencyValidationError`).
    #[error(
        "payload validation failed for idempotency key {key:?}: the validated part of this payload differs from the one already processed"
    )]
    Validation {
        /// The key.
        key: String,
    },
    /// The key path found nothing (or could not be evaluated on the payload) and
    /// `raise_on_no_idempotency_key` is on (`IdempotencyKeyError`).
    #[error(
        "no idempotency key found in the payload at {path:?}: the event does not carry the fields the key is made of"
    )]
    KeyMissing {
        /// The JMESPath expression.
        path: String,
    },
    /// The store failed while claiming the key: the handler did not run
    /// (`IdempotencyPersistenceLayerError`). Once the handler has run, a store failure never
    /// replaces its outcome (see the failure modes in the crate docs).
    #[error("idempotency store failed ({context}): {source}")]
    Persistence {
        /// What was being done.
        context: &'static str,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The event could not be read as JSON, the validation expression failed, or a stored
    /// response could not be read as the handler's output (`IdempotencySerializationError`).
    #[error("idempotency data could not be processed: {0}")]
    Serialization(String),
    /// The store and the clock kept disagreeing about the record (`IdempotencyInconsistentStateError`).
    #[error(
        "idempotency record {key:?} stayed in an inconsistent state after {MAX_CLAIM_ATTEMPTS} attempts"
    )]
    InconsistentState {
        /// The key.
        key: String,
    },
    /// The handler failed; the record was deleted so that a retry runs again.
    #[error("{0}")]
    Handler(E),
}

impl<E> IdempotencyError<E> {
    /// The stable Lambda `errorType` (the handler's own for [`IdempotencyError::Handler`]).
    pub fn error_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::AlreadyInProgress { .. } => "IdempotencyAlreadyInProgressError",
            Self::Validation { .. } => "IdempotencyValidationError",
            Self::KeyMissing { .. } => "IdempotencyKeyError",
            Self::Persistence { .. } => "IdempotencyPersistenceLayerError",
            Self::Serialization(_) => "IdempotencySerializationError",
            Self::InconsistentState { .. } => "IdempotencyInconsistentStateError",
            Self::Handler(_) => return None,
        })
    }
}

impl<E: Into<Diagnostic> + std::fmt::Display> From<IdempotencyError<E>> for Diagnostic {
    fn from(error: IdempotencyError<E>) -> Self {
        match error.error_type() {
            Some(error_type) => Diagnostic {
                error_type: error_type.to_owned(),
                error_message: error.to_string(),
            },
            None => match error {
                IdempotencyError::Handler(e) => e.into(),
                other => Diagnostic {
                    error_type: "IdempotencyError".to_owned(),
                    error_message: other.to_string(),
                },
            },
        }
    }
}

struct Inner {
    store: Arc<dyn Store>,
    key: Option<KeySource>,
    validation: Option<Selector>,
    raise_on_no_key: bool,
    expires_after: Duration,
    in_progress_expiry: Option<Duration>,
    prefix: String,
    hash_mode: HashMode,
    disabled: bool,
    cache: Option<moka::sync::Cache<String, Record>>,
    max_stored_response_bytes: usize,
    on_replay: Option<Arc<ReplayHook>>,
    clock: Arc<Clock>,
    warned_no_key: AtomicBool,
    config: FunctionConfig,
}

/// Makes functions and handlers run once per payload (see the crate docs). Cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("prefix", &self.inner.prefix)
            .field("key", &self.inner.key.as_ref().map(KeySource::describe))
            .field("store", &self.inner.store)
            .field("disabled", &self.inner.disabled)
            .finish_non_exhaustive()
    }
}

fn now_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// How a stored response that was compressed to fit begins: gzip, then standard base64. JSON
/// never begins with `g`, so a plain response cannot be mistaken for one.
const COMPRESSED_PREFIX: &str = "gzip+base64:";

/// The default largest stored response: DynamoDB's 400 KB item limit less room for the key and
/// the other attributes.
const DEFAULT_MAX_STORED_RESPONSE_BYTES: usize = 400 * 1024 - 8 * 1024;

/// The most a compressed stored response may inflate to (a record written elsewhere cannot make
/// a replay exhaust memory).
const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a stored response's JSON as the handler's output type: what a replay does, and what
/// a response must survive before it is stored.
///
/// The error is described by its kind and position, never by serde's message, which quotes
/// the data (`invalid type: string "..."`, `unknown variant ...`): a response may hold what
/// must not reach logs or the Lambda `errorMessage`.
fn read_response<R: DeserializeOwned>(json: &str) -> Result<R, String> {
    serde_json::from_str(json).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "a read error",
            serde_json::error::Category::Syntax => "not valid JSON, or nested too deep",
            serde_json::error::Category::Data => "JSON of another shape or type",
            serde_json::error::Category::Eof => "JSON cut short",
        };
        format!("{kind} (at line {}, column {})", e.line(), e.column())
    })
}

/// The `data` a response of type `R` is stored as: its JSON when it fits in `max` bytes, else
/// its JSON compressed when that fits; `Err(reason)` when it cannot be stored or could not be
/// read back as `R`.
fn encode_response<R: DeserializeOwned>(json: String, max: usize) -> Result<String, String> {
    // What does not read back as `R` could never be replayed: JSON nested deeper than
    // serde_json reads (128 levels), a NaN or infinity written as `null` where `R` holds an
    // `f64`, serde attributes that do not mirror each other.
    if let Err(e) = read_response::<R>(&json) {
        return Err(format!(
            "it could not be read back as the handler's output type: {e}"
        ));
    }
    if json.len() <= max {
        return Ok(json);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder
        .write_all(json.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| format!("it could not be compressed: {e}"))?;
    let encoded = format!(
        "{COMPRESSED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(compressed)
    );
    if encoded.len() <= max {
        Ok(encoded)
    } else {
        Err(format!(
            "{} bytes of JSON, {} compressed, over the {max} bytes a record holds",
            json.len(),
            encoded.len()
        ))
    }
}

/// The JSON of a stored response (see [`encode_response`]).
fn decode_response(data: &str) -> Result<Cow<'_, str>, String> {
    let Some(encoded) = data.strip_prefix(COMPRESSED_PREFIX) else {
        return Ok(Cow::Borrowed(data));
    };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("not base64: {e}"))?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_string(&mut json)
        .map_err(|e| format!("not gzip-compressed JSON: {e}"))?;
    if json.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "it inflates to more than {MAX_DECOMPRESSED_BYTES} bytes"
        ));
    }
    Ok(Cow::Owned(json))
}

/// What is kept back from the invocation's remaining time when bounding a store call made after
/// the handler ran, so that the handler's outcome still reaches the runtime before the deadline.
const STORE_CALL_MARGIN: Duration = Duration::from_millis(500);

/// Writes a warning line on stderr; a stderr that cannot be written is ignored (never a panic,
/// as `eprintln!` would).
fn warn(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Whether the selected key data means "no key": Powertools for Python's
/// `is_missing_idempotency_key`. Null, an empty string, an empty object, and a list that is empty
/// or holds only nulls are missing; a number or a boolean never is (`0` and `false` are keys); a
/// non-empty object never is (Python iterates its keys, which are never null).
fn is_missing_key(data: &Value) -> bool {
    match data {
        Value::Null => true,
        Value::Bool(_) | Value::Number(_) => false,
        Value::String(s) => s.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.iter().all(Value::is_null),
    }
}

impl Idempotency {
    /// A builder over `store`.
    pub fn builder(store: impl Store + 'static) -> IdempotencyBuilder {
        IdempotencyBuilder::new(Arc::new(store))
    }

    /// A builder over a shared store.
    pub fn builder_with_arc(store: Arc<dyn Store>) -> IdempotencyBuilder {
        IdempotencyBuilder::new(store)
    }

    /// The function configuration (from the builder's environment), for the invocation scope
    /// the layer opens when none is open.
    pub(crate) fn function_config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// The key prefix (`<function>.<handler>` by default).
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The record key `payload` maps to, or `None` when the payload has no key.
    ///
    /// `<prefix>#<hash>`; inside an invocation of a function with tenant isolation
    /// ([`Invocation::tenant_id`]), `<prefix>#<tenant id>#<hash>`, so that two tenants sending
    /// the same payload never replay each other's responses. The hash (hex or base64) holds no
    /// `#`, so the key reads back unambiguously.
    pub fn key_for(&self, payload: &Value) -> Result<Option<String>, String> {
        let data = match &self.inner.key {
            Some(selector) => selector.select(payload)?,
            None => payload.clone(),
        };
        if is_missing_key(&data) {
            return Ok(None);
        }
        let hash = self.inner.hash_mode.hash(&data);
        let prefix = &self.inner.prefix;
        Ok(Some(
            Invocation::with_current(|invocation| {
                invocation
                    .tenant_id()
                    .map(|tenant| format!("{prefix}#{tenant}#{hash}"))
            })
            .flatten()
            .unwrap_or_else(|| format!("{prefix}#{hash}")),
        ))
    }

    /// Runs `f` at most once for `payload`: the first call runs it and records its response;
    /// later calls with the same key replay that response (deserialized as `R`) without
    /// running it; a concurrent call gets [`IdempotencyError::AlreadyInProgress`]. If `f`
    /// fails or panics, the record is deleted so that a retry runs again (a panic then goes on
    /// to the caller).
    ///
    /// The tenant id that scopes the key and the deadline that sets the in-progress expiry are
    /// read from the invocation scope ([`Invocation::current`]): put a Powertools layer or
    /// `powertools_core::InvocationLayer` around the handler that calls `run`. Outside any
    /// scope, keys are not scoped by tenant (tenants sending the same payload replay each
    /// other's responses) and, unless [`IdempotencyBuilder::in_progress_expiry`] is set, a
    /// crashed invocation blocks its key until `expires_after`.
    pub async fn run<R, E, F, Fut>(&self, payload: &Value, f: F) -> Result<R, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let inner = &self.inner;
        if inner.disabled {
            return f().await.map_err(IdempotencyError::Handler);
        }
        // A key path that finds nothing, or cannot be evaluated on this payload (a body that is
        // not JSON, say), means there is no key: the handler decides what to answer.
        let key = match self.key_for(payload) {
            Ok(Some(key)) => key,
            missing => {
                let reason = match missing {
                    Err(reason) => reason,
                    Ok(_) => "the key data is null or empty".to_owned(),
                };
                if inner.raise_on_no_key {
                    return Err(IdempotencyError::KeyMissing {
                        path: inner
                            .key
                            .as_ref()
                            .map(KeySource::describe)
                            .unwrap_or_default(),
                    });
                }
                if !inner.warned_no_key.swap(true, Ordering::Relaxed) {
                    warn(format_args!(
                        "no idempotency key in the payload ({}): running without idempotency (warned once; set raise_on_no_idempotency_key to make it an error)",
                        reason.lines().next().unwrap_or_default()
                    ));
                }
                return f().await.map_err(IdempotencyError::Handler);
            }
        };
        let validation = match &inner.validation {
            Some(selector) => Some(
                inner.hash_mode.hash(
                    &selector
                        .select(payload)
                        .map_err(IdempotencyError::Serialization)?,
                ),
            ),
            None => None,
        };

        if let Some(cache) = &inner.cache
            && let Some(record) = cache.get(&key)
        {
            if !record.is_expired(now_ms((inner.clock)())) {
                return self.replay(record, validation.as_deref());
            }
            cache.invalidate(&key);
        }

        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let now = (inner.clock)();
            let now_ms = now_ms(now);
            let claim = Record {
                key: key.clone(),
                status: Status::InProgress,
                expiration: Record::epoch_seconds(now_ms)
                    .saturating_add(inner.expires_after.as_secs()),
                in_progress_expiration: self.in_progress_deadline(now_ms),
                data: None,
                validation: validation.clone(),
            };
            let outcome = inner
                .store
                .put_if_absent_or_expired(&claim, now_ms)
                .await
                .map_err(|source| IdempotencyError::Persistence {
                    context: "claiming the key; the handler did not run",
                    source,
                })?;
            match outcome {
                PutOutcome::Claimed => return self.execute(claim, f).await,
                PutOutcome::Exists(existing) => match existing.status {
                    Status::Completed if !existing.is_expired(now_ms) => {
                        return self.replay(existing, validation.as_deref());
                    }
                    Status::InProgress if existing.in_progress_holds(now_ms) => {
                        return Err(IdempotencyError::AlreadyInProgress { key });
                    }
                    // The store refused a record the clock says is claimable: try again.
                    _ => continue,
                },
            }
        }
        Err(IdempotencyError::InconsistentState { key })
    }

    fn in_progress_deadline(&self, now_ms: u64) -> Option<u64> {
        match self.inner.in_progress_expiry {
            Some(expiry) => {
                Some(now_ms.saturating_add(u64::try_from(expiry.as_millis()).unwrap_or(u64::MAX)))
            }
            None => Invocation::current()
                .map(|invocation| invocation.deadline_ms())
                .filter(|d| *d > 0),
        }
    }

    async fn execute<R, E, F, Fut>(&self, claim: Record, f: F) -> Result<R, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let inner = &self.inner;
        // A panicking handler failed like one that returned an error: its claim is removed
        // (so a retry runs at once, not after the in-progress expiry), then the panic goes on.
        let outcome = match powertools_core::catch_panic(f).await {
            Ok(outcome) => outcome,
            Err(panicked) => {
                self.forget_failed(&claim.key).await;
                panicked.resume();
            }
        };
        match outcome {
            // The handler ran: its caller gets its response whatever the store does next.
            Ok(response) => {
                let data = serde_json::to_string(&response)
                    .map_err(|e| format!("it cannot be written as JSON: {e}"))
                    .and_then(|json| encode_response::<R>(json, inner.max_stored_response_bytes));
                let data = match data {
                    Ok(data) => data,
                    Err(reason) => {
                        self.release(&claim.key, &reason).await;
                        return Ok(response);
                    }
                };
                let now_ms = now_ms((inner.clock)());
                let completed = Record {
                    status: Status::Completed,
                    expiration: Record::epoch_seconds(now_ms)
                        .saturating_add(inner.expires_after.as_secs()),
                    data: Some(data),
                    ..claim
                };
                match self.bounded(inner.store.update(&completed)).await {
                    Ok(()) => {
                        if let Some(cache) = &inner.cache {
                            cache.insert(completed.key.clone(), completed);
                        }
                    }
                    Err(error) => {
                        self.release(&completed.key, &format!("saving it failed: {error}"))
                            .await;
                    }
                }
                Ok(response)
            }
            Err(error) => {
                self.forget_failed(&claim.key).await;
                Err(IdempotencyError::Handler(error))
            }
        }
    }

    /// Runs a store call made after the handler ran. Inside an invocation scope with a deadline
    /// it is given the time left before the deadline, less [`STORE_CALL_MARGIN`]; a call that
    /// has not answered by then is abandoned as [`StoreError::TimedOut`], so that a store that
    /// never answers cannot run the invocation into Lambda's timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let now = (self.inner.clock)();
        let bound = Invocation::with_current(|invocation| {
            (invocation.deadline_ms() > 0).then(|| {
                invocation
                    .remaining_time_at(now)
                    .saturating_sub(STORE_CALL_MARGIN)
            })
        })
        .flatten();
        match bound {
            // A call that answers at once still does with no time left (the call is polled
            // before the timer).
            Some(after) => tokio::time::timeout(after, call)
                .await
                .unwrap_or(Err(StoreError::TimedOut { after })),
            None => call.await,
        }
    }

    /// The handler failed (an error or a panic): deletes its claim so that a retry runs again,
    /// or says on stderr why a retry will wait for the in-progress expiry.
    async fn forget_failed(&self, key: &str) {
        if let Err(store_error) = self.bounded(self.inner.store.delete(key)).await {
            warn(format_args!(
                "idempotency: the handler failed and its record {key:?} could not be deleted ({store_error}): duplicates get IdempotencyAlreadyInProgressError until the in-progress expiry, then run the handler again"
            ));
        }
    }

    /// The handler succeeded but its response is not recorded (`reason`): removes the claim so
    /// that a duplicate runs the handler again, and says so on stderr.
    async fn release(&self, key: &str, reason: &str) {
        match self.bounded(self.inner.store.delete(key)).await {
            Ok(()) => warn(format_args!(
                "idempotency: the response for {key:?} was returned but not stored ({reason}); the record was removed, so a duplicate runs the handler again"
            )),
            Err(error) => warn(format_args!(
                "idempotency: the response for {key:?} was returned but not stored ({reason}), and the record could not be removed ({error}): duplicates get IdempotencyAlreadyInProgressError until the in-progress expiry, then run the handler again"
            )),
        }
    }

    fn replay<R: DeserializeOwned, E>(
        &self,
        record: Record,
        validation: Option<&str>,
    ) -> Result<R, IdempotencyError<E>> {
        if let Some(expected) = validation
            && record.validation.as_deref() != Some(expected)
        {
            return Err(IdempotencyError::Validation { key: record.key });
        }
        let data = decode_response(record.data.as_deref().unwrap_or("null")).map_err(|e| {
            IdempotencyError::Serialization(format!(
                "the stored response of {:?} is not readable: {e}",
                record.key
            ))
        })?;
        let response = read_response(&data).map_err(|e| {
            IdempotencyError::Serialization(format!(
                "the stored response of {:?} is not the handler's output type: {e}",
                record.key
            ))
        })?;
        if let Some(hook) = &self.inner.on_replay {
            hook(&record);
        }
        if let Some(cache) = &self.inner.cache {
            cache.insert(record.key.clone(), record);
        }
        Ok(response)
    }
}

/// Builds [`Idempotency`].
#[must_use]
pub struct IdempotencyBuilder {
    store: Arc<dyn Store>,
    env: Option<Env>,
    key: Option<String>,
    key_fn: Option<Arc<KeyFn>>,
    validation: Option<String>,
    raise_on_no_key: bool,
    expires_after: Duration,
    in_progress_expiry: Option<Duration>,
    prefix: Option<String>,
    handler_name: Option<String>,
    hash_mode: HashMode,
    disabled: Option<bool>,
    cache: Option<(u64, Duration)>,
    max_stored_response_bytes: usize,
    on_replay: Option<Arc<ReplayHook>>,
    clock: Option<Arc<Clock>>,
}

impl std::fmt::Debug for IdempotencyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyBuilder")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A configuration [`IdempotencyBuilder::build`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A JMESPath expression does not compile.
    #[error("JMESPath {path:?} is invalid: {reason}")]
    InvalidPath {
        /// The expression.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// `expires_after` is zero.
    #[error("expires_after must be at least one second")]
    ZeroExpiry,
    /// The key prefix is empty.
    #[error(
        "the key prefix is empty: leave it unset for <function>.<handler>, or set a non-empty one"
    )]
    EmptyPrefix,
}

/// The longest a record is kept in the local cache: moka refuses (with a panic) a TTL over
/// 1,000 years.
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
            env: None,
            key: None,
            key_fn: None,
            validation: None,
            raise_on_no_key: false,
            expires_after: Duration::from_secs(3_600),
            in_progress_expiry: None,
            prefix: None,
            handler_name: None,
            hash_mode: HashMode::Python,
            disabled: None,
            cache: None,
            max_stored_response_bytes: DEFAULT_MAX_STORED_RESPONSE_BYTES,
            on_replay: None,
            clock: None,
        }
    }

    /// Reads unset values from `env` (tests).
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

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
            let typed: T = T::deserialize(payload)
                .map_err(|e| format!("the payload is not the key function's type: {e}"))?;
            match f(&typed) {
                Some(key) => serde_json::to_value(key).map_err(|e| e.to_string()),
                None => Ok(Value::Null),
            }
        }));
        self
    }

    /// Selects a part of the payload that must equal the first call's, or the replay is refused
    /// with [`IdempotencyError::Validation`].
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

    /// Hashes like Powertools for TypeScript instead of Python.
    pub fn hash_mode(mut self, mode: HashMode) -> Self {
        self.hash_mode = mode;
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

    /// Reads the time from `clock` (tests).
    pub fn clock<F: Fn() -> SystemTime + Send + Sync + 'static>(mut self, clock: F) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Idempotency, ConfigError> {
        let compile = |path: &Option<String>| -> Result<Option<Selector>, ConfigError> {
            path.as_deref()
                .map(|p| {
                    Selector::compile(p).map_err(|reason| ConfigError::InvalidPath {
                        path: p.to_owned(),
                        reason,
                    })
                })
                .transpose()
        };
        let key = match self.key_fn {
            Some(f) => Some(KeySource::Function(f)),
            None => compile(&self.key)?.map(KeySource::Path),
        };
        let validation = compile(&self.validation)?;
        if self.expires_after.as_secs() == 0 {
            return Err(ConfigError::ZeroExpiry);
        }
        let env = self.env.unwrap_or_else(Env::from_env);
        let config = FunctionConfig::from_source(&env);
        let prefix = match self.prefix {
            Some(prefix) if prefix.trim().is_empty() => return Err(ConfigError::EmptyPrefix),
            Some(prefix) => prefix,
            None => {
                let handler = self
                    .handler_name
                    .or_else(|| env.string("_HANDLER"))
                    .unwrap_or_else(|| "handler".to_owned());
                format!("{}.{handler}", config.function_name().unwrap_or("local"))
            }
        };
        Ok(Idempotency {
            inner: Arc::new(Inner {
                store: self.store,
                key,
                validation,
                raise_on_no_key: self.raise_on_no_key,
                expires_after: self.expires_after,
                in_progress_expiry: self.in_progress_expiry,
                prefix,
                hash_mode: self.hash_mode,
                disabled: self.disabled.unwrap_or_else(|| {
                    env.bool("POWERTOOLS_IDEMPOTENCY_DISABLED").unwrap_or(false)
                }),
                cache: self.cache.map(|(capacity, ttl)| {
                    moka::sync::Cache::builder()
                        .max_capacity(capacity)
                        .time_to_live(local_cache_ttl(ttl, self.expires_after))
                        .build()
                }),
                max_stored_response_bytes: self.max_stored_response_bytes,
                on_replay: self.on_replay,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                warned_no_key: AtomicBool::new(false),
                config,
            }),
        })
    }
}
