//! The idempotency engine: claim, run once, complete or delete, replay.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use powertools_core::{Common, Invocation, duration_millis};
use powertools_jmespath::Expression;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{IdempotencyError, KeySelectionError, MAX_CLAIM_ATTEMPTS};
use crate::hash::HashMode;
use crate::key::{KeySource, is_missing_key, is_missing_key_typescript};
use crate::record::{PutOutcome, Record, RecordFormat, Status, Store, StoreError};
use crate::response::{decode_response, encode_response, is_compressed, read_response};

pub(crate) type ReplayHook = dyn Fn(&Record) + Send + Sync;

/// What a response is stored as.
pub(crate) enum Encoded {
    /// The record's `data`.
    Store(String),
    /// A response not to be kept (an HTTP status that is not stored): the claim is deleted, as
    /// after an error.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Skip,
    /// A response that should be kept but cannot be (why): the claim is deleted, with a warning.
    Unstorable(String),
}

/// How the engine writes a response of type `R` into a record's `data` and reads it back.
pub(crate) trait Codec<R> {
    /// What `response` is stored as, in at most `max` bytes.
    fn encode(&self, response: &R, max: usize) -> Encoded;
    /// The response stored as `json` (decompressed), or why it cannot be read (a phrase after
    /// "the stored response of <key>", never quoting the data).
    fn decode(&self, json: &str) -> Result<R, String>;
}

/// The typed form: the response's own JSON (Powertools for Python's and TypeScript's format).
pub(crate) struct JsonCodec;

impl<R: Serialize + DeserializeOwned> Codec<R> for JsonCodec {
    fn encode(&self, response: &R, max: usize) -> Encoded {
        match encode_response(response, max) {
            Ok(data) => Encoded::Store(data),
            Err(reason) => Encoded::Unstorable(reason.to_string()),
        }
    }

    fn decode(&self, json: &str) -> Result<R, String> {
        read_response(json).map_err(|e| format!("is not the handler's output type: {e}"))
    }
}

/// Whether `data` (the response's JSON) still decodes after the trip through
/// `serde_json::Value` that native record values take.
fn reads_back_natively<R, C: Codec<R>>(codec: &C, data: &str) -> bool {
    serde_json::from_str::<Value>(data).is_ok_and(|value| codec.decode(&value.to_string()).is_ok())
}

/// Whether a call ran its function or replayed a stored response
/// ([`Idempotency::run_with_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution<R> {
    /// The function ran (first call, no key, or idempotency disabled); its response.
    Executed(R),
    /// A stored response, returned without running the function.
    Replayed(R),
}

impl<R> Execution<R> {
    /// The response, whichever way it came.
    pub fn into_response(self) -> R {
        match self {
            Self::Executed(response) | Self::Replayed(response) => response,
        }
    }

    /// Whether the response was replayed.
    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }
}

/// What a built [`Idempotency`] holds (made by the builder).
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) key: Option<KeySource>,
    pub(crate) validation: Option<Expression>,
    pub(crate) raise_on_no_key: bool,
    pub(crate) expires_after: Duration,
    pub(crate) in_progress_expiry: Option<Duration>,
    pub(crate) prefix: String,
    pub(crate) hash_mode: HashMode,
    /// How completed responses are written.
    pub(crate) record_format: RecordFormat,
    /// Powertools for TypeScript's rules for a payload without a key.
    pub(crate) typescript_key_rules: bool,
    pub(crate) disabled: bool,
    /// The local cache of completed records, with its time to live.
    pub(crate) cache: Option<(powertools_core::TtlCache<Record>, Duration)>,
    pub(crate) max_stored_response_bytes: usize,
    pub(crate) on_replay: Option<Arc<ReplayHook>>,
    pub(crate) common: Common,
    pub(crate) warned_no_key: AtomicBool,
    #[cfg(feature = "http")]
    pub(crate) http: crate::http::config::HttpConfig,
}

/// Makes functions and handlers run once per payload (see the crate docs). Cheap to clone.
///
/// ```
/// use powertools_idempotency::{Execution, Idempotency, InMemoryStore};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let idempotency = Idempotency::builder(InMemoryStore::new()) // DynamoDbStore in Lambda
///     .event_key_jmespath("order_id")
///     .build()?;
/// let order = json!({"order_id": "o-1", "amount": 27.5});
/// let charge = || async { Ok::<_, String>(json!({"charged": 27.5})) };
/// let first = idempotency.run_with_outcome(&order, charge).await?;
/// let again = idempotency.run_with_outcome(&order, charge).await?;
/// assert!(matches!(first, Execution::Executed(_)));
/// assert_eq!(again, Execution::Replayed(json!({"charged": 27.5})));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// What is kept back from the invocation's remaining time when bounding a store call made after
/// the handler ran, so that the handler's outcome still reaches the runtime before the deadline.
const STORE_CALL_MARGIN: Duration = Duration::from_millis(500);

/// Reports a warning (see [`powertools_core::warn`]: a `tracing` event when a subscriber is in
/// place, else a line on stderr; never a panic).
fn warn(message: std::fmt::Arguments<'_>) {
    powertools_core::warn(message);
}

impl Idempotency {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// What the builder made.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The resolved common configuration (environment, function configuration, clock): the
    /// function configuration is the one the layer opens the invocation scope with.
    pub(crate) fn common(&self) -> &Common {
        &self.inner.common
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
    pub fn key_for(&self, payload: &Value) -> Result<Option<String>, KeySelectionError> {
        let data = match &self.inner.key {
            Some(selector) => selector.select(payload)?,
            None => std::borrow::Cow::Borrowed(payload),
        };
        let missing = if self.inner.typescript_key_rules {
            // Powertools for TypeScript hashes whatever it selected, unless a key path selected
            // nothing (null); raising on a missing key, it refuses falsy data too.
            if self.inner.raise_on_no_key {
                is_missing_key_typescript(&data)
            } else {
                self.inner.key.is_some() && data.is_null()
            }
        } else {
            is_missing_key(&data)
        };
        if missing {
            return Ok(None);
        }
        Ok(Some(self.record_key(&self.inner.hash_mode.hash(&data))))
    }

    /// `<prefix>#<hash>`, or `<prefix>#<tenant id>#<hash>` inside an invocation with a tenant.
    pub(crate) fn record_key(&self, hash: &str) -> String {
        let prefix = &self.inner.prefix;
        Invocation::with_current(|invocation| {
            invocation
                .tenant_id()
                .map(|tenant| format!("{prefix}#{tenant}#{hash}"))
        })
        .flatten()
        .unwrap_or_else(|| format!("{prefix}#{hash}"))
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
    /// other's responses) and, unless [`IdempotencyBuilder::in_progress_expiry`](crate::IdempotencyBuilder::in_progress_expiry) is set, a
    /// crashed invocation blocks its key until `expires_after`.
    pub async fn run<R, E, F, Fut>(&self, payload: &Value, f: F) -> Result<R, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_with_outcome(payload, f)
            .await
            .map(Execution::into_response)
    }

    /// [`run`](Self::run) for a payload of any serializable type (a typed event, a command):
    /// it is turned into JSON once, and keys, hashes and validation are those of
    /// `run(&serde_json::to_value(payload)?, f)`, so records are shared with callers that pass
    /// the JSON. A payload that is already a `serde_json::Value` is best given to `run`, which
    /// borrows it.
    ///
    /// ```
    /// use powertools_idempotency::{Idempotency, InMemoryStore};
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// struct Charge<'a> {
    ///     order_id: &'a str,
    ///     cents: u64,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let idempotency = Idempotency::builder(InMemoryStore::new())
    ///     .event_key_jmespath("order_id")
    ///     .build()?;
    /// let charge = Charge { order_id: "o-1", cents: 1_250 };
    /// let first: String = idempotency
    ///     .run_typed(&charge, || async { Ok::<_, String>("ch-1".to_owned()) })
    ///     .await?;
    /// let again: String = idempotency
    ///     .run_typed(&charge, || async { Ok::<_, String>("ch-2".to_owned()) })
    ///     .await?;
    /// assert_eq!(again, first); // replayed
    /// # Ok(()) }
    /// ```
    pub async fn run_typed<P, R, E, F, Fut>(
        &self,
        payload: &P,
        f: F,
    ) -> Result<R, IdempotencyError<E>>
    where
        P: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        if self.inner.disabled {
            return f().await.map_err(IdempotencyError::Handler);
        }
        // The serializer's message may come from the payload's own Serialize impl: not shown.
        let payload = serde_json::to_value(payload).map_err(|_| {
            IdempotencyError::Serialization(
                "the payload could not be turned into JSON (a map key that is not a string, or its Serialize impl failed)"
                    .to_owned(),
            )
        })?;
        self.run(&payload, f).await
    }

    /// [`run`](Self::run), also telling whether `f` ran or its stored response was replayed:
    /// for a caller that acts on it (a metric, a header, a log line of its own).
    ///
    /// ```
    /// # use powertools_idempotency::{Execution, Idempotency, InMemoryStore};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let idempotency = Idempotency::builder(InMemoryStore::new()).build().unwrap();
    /// let payload = serde_json::json!({"order": 7});
    /// let first = idempotency
    ///     .run_with_outcome(&payload, || async { Ok::<_, std::io::Error>(7) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(first, Execution::Executed(7));
    /// let again = idempotency
    ///     .run_with_outcome(&payload, || async { Ok::<_, std::io::Error>(8) })
    ///     .await
    ///     .unwrap();
    /// assert!(again.is_replay());
    /// assert_eq!(again.into_response(), 7);
    /// # }
    /// ```
    pub async fn run_with_outcome<R, E, F, Fut>(
        &self,
        payload: &Value,
        f: F,
    ) -> Result<Execution<R>, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let inner = &self.inner;
        let unprotected = |f: F| async move {
            f().await
                .map(Execution::Executed)
                .map_err(IdempotencyError::Handler)
        };
        if inner.disabled {
            return unprotected(f).await;
        }
        // A key path that finds nothing, or cannot be evaluated on this payload (a body that is
        // not JSON, say), means there is no key: the handler decides what to answer.
        let key = match self.key_for(payload) {
            Ok(Some(key)) => key,
            missing => {
                let reason = match missing {
                    Err(error) => error.to_string(),
                    Ok(_) => "the key data is null or empty".to_owned(),
                };
                self.no_key(&reason)?;
                return unprotected(f).await;
            }
        };
        let validation = self
            .validation_hash(payload)
            .map_err(IdempotencyError::Serialization)?;
        self.run_keyed(key, validation, &JsonCodec, f).await
    }

    /// A payload without a key: [`IdempotencyError::KeyMissing`] with
    /// `raise_on_no_idempotency_key`, else a warning (once) and `Ok`: the handler runs without
    /// idempotency.
    pub(crate) fn no_key<E>(&self, reason: &str) -> Result<(), IdempotencyError<E>> {
        let inner = &self.inner;
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
        Ok(())
    }

    /// The hash of the validated part of `payload`, when payload validation is on.
    pub(crate) fn validation_hash(&self, payload: &Value) -> Result<Option<String>, String> {
        match &self.inner.validation {
            Some(selector) => {
                Ok(Some(self.inner.hash_mode.hash(
                    &selector.search(payload).map_err(|e| e.to_string())?,
                )))
            }
            None => Ok(None),
        }
    }

    /// The engine behind every form (typed, tower layer, HTTP): replays a live completed record
    /// for `key` (from the local cache or the store), refuses while another call holds it, or
    /// claims it, runs `f` once and stores its response as `codec` writes it (or deletes the
    /// claim when `f` fails, panics, or its response is not to be stored).
    pub(crate) async fn run_keyed<R, E, F, Fut, C>(
        &self,
        key: String,
        validation: Option<String>,
        codec: &C,
        f: F,
    ) -> Result<Execution<R>, IdempotencyError<E>>
    where
        C: Codec<R>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let inner = &self.inner;
        if let Some((cache, _)) = &inner.cache
            && let Some(record) = cache.get(&key)
        {
            if !record.is_expired(inner.common.clock().epoch_millis()) {
                return self
                    .replay(Record::clone(&record), validation.as_deref(), codec)
                    .map(Execution::Replayed);
            }
            cache.remove(&key);
        }

        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let now_ms = inner.common.clock().epoch_millis();
            let claim = Record {
                key: key.clone(),
                status: Status::InProgress,
                expiration: Record::epoch_seconds(now_ms)
                    .saturating_add(inner.expires_after.as_secs()),
                in_progress_expiration: self.in_progress_deadline(now_ms),
                data: None,
                format: inner.record_format,
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
                PutOutcome::Claimed => {
                    return self.execute(claim, codec, f).await.map(Execution::Executed);
                }
                PutOutcome::Exists(existing) => match existing.status {
                    Status::Completed if !existing.is_expired(now_ms) => {
                        return self
                            .replay(existing, validation.as_deref(), codec)
                            .map(Execution::Replayed);
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
            Some(expiry) => Some(now_ms.saturating_add(duration_millis(expiry))),
            None => Invocation::current()
                .map(|invocation| invocation.deadline_ms())
                .filter(|d| *d > 0),
        }
    }

    async fn execute<R, E, F, Fut, C>(
        &self,
        claim: Record,
        codec: &C,
        f: F,
    ) -> Result<R, IdempotencyError<E>>
    where
        C: Codec<R>,
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
                let data = match codec.encode(&response, inner.max_stored_response_bytes) {
                    // Powertools for TypeScript's form stores the value itself: no compression.
                    Encoded::Store(data)
                        if inner.record_format == RecordFormat::TypeScript
                            && is_compressed(&data) =>
                    {
                        self.release(
                            &claim.key,
                            &"the response is larger than max_stored_response_bytes, and the TypeScript record format is never compressed",
                        )
                        .await;
                        return Ok(response);
                    }
                    // Native values go through `serde_json::Value` (integers past u64 become
                    // doubles): store only what still reads back as the response.
                    Encoded::Store(data)
                        if inner.record_format == RecordFormat::TypeScript
                            && !reads_back_natively(codec, &data) =>
                    {
                        self.release(
                            &claim.key,
                            &"the response does not survive conversion to native DynamoDB values (a number beyond what JSON values hold)",
                        )
                        .await;
                        return Ok(response);
                    }
                    Encoded::Store(data) => data,
                    // Not a response to keep (an HTTP status not stored): like an error, the
                    // claim is removed and a retry runs again.
                    Encoded::Skip => {
                        self.forget_failed(&claim.key).await;
                        return Ok(response);
                    }
                    Encoded::Unstorable(reason) => {
                        self.release(&claim.key, &reason).await;
                        return Ok(response);
                    }
                };
                let now_ms = inner.common.clock().epoch_millis();
                let completed = Record {
                    status: Status::Completed,
                    expiration: Record::epoch_seconds(now_ms)
                        .saturating_add(inner.expires_after.as_secs()),
                    data: Some(data),
                    format: inner.record_format,
                    ..claim
                };
                match self.bounded(inner.store.update(&completed)).await {
                    Ok(()) => {
                        if let Some((cache, ttl)) = &inner.cache {
                            let completed = Arc::new(completed);
                            cache.insert(&completed.key, Arc::clone(&completed), *ttl);
                        }
                    }
                    Err(error) => {
                        let reason = format!("saving it failed: {error}");
                        self.release(&completed.key, &reason).await;
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
        let now = self.inner.common.clock().now();
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
    async fn release(&self, key: &str, reason: &(dyn std::fmt::Display + Sync)) {
        match self.bounded(self.inner.store.delete(key)).await {
            Ok(()) => warn(format_args!(
                "idempotency: the response for {key:?} was returned but not stored ({reason}); the record was removed, so a duplicate runs the handler again"
            )),
            Err(error) => warn(format_args!(
                "idempotency: the response for {key:?} was returned but not stored ({reason}), and the record could not be removed ({error}): duplicates get IdempotencyAlreadyInProgressError until the in-progress expiry, then run the handler again"
            )),
        }
    }

    fn replay<R, E, C: Codec<R>>(
        &self,
        record: Record,
        validation: Option<&str>,
        codec: &C,
    ) -> Result<R, IdempotencyError<E>> {
        if let Some(expected) = validation
            && record.validation.as_deref() != Some(expected)
        {
            return Err(IdempotencyError::Validation { key: record.key });
        }
        let stored = record.data.as_deref().unwrap_or("null");
        let data = match (record.format, self.inner.record_format) {
            // No `data` attribute at all: a null response, in either form.
            _ if record.data.is_none() => std::borrow::Cow::Borrowed("null"),
            // A string attribute read the TypeScript way: the response is that string.
            (RecordFormat::Python, RecordFormat::TypeScript) => {
                std::borrow::Cow::Owned(serde_json::Value::from(stored).to_string())
            }
            (RecordFormat::Python, _) => decode_response(stored).map_err(|e| {
                IdempotencyError::Serialization(format!(
                    "the stored response of {:?} is not readable: {e}",
                    record.key
                ))
            })?,
            // A native value, already JSON.
            _ => std::borrow::Cow::Borrowed(stored),
        };
        let response = codec.decode(&data).map_err(|reason| {
            IdempotencyError::Serialization(format!(
                "the stored response of {:?} {reason}",
                record.key
            ))
        })?;
        // Told to the invocation (the metrics' empty check counts it) and to the logs.
        Invocation::with_current(Invocation::record_replay);
        tracing::info!(
            target: powertools_core::WARNING_TARGET,
            idempotency_key = record.key.as_str(),
            "idempotent replay: the stored response was returned without running the handler"
        );
        if let Some(hook) = &self.inner.on_replay {
            hook(&record);
        }
        if let Some((cache, ttl)) = &self.inner.cache {
            let record = Arc::new(record);
            cache.insert(&record.key, Arc::clone(&record), *ttl);
        }
        Ok(response)
    }
}
