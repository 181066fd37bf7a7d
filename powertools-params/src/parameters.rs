//! The caching front: TTL, per-call max age, force fetch, single-flight, stale-if-error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use powertools_core::{Clock, CommonConfig, ConfigError, TtlCache};
use serde::de::DeserializeOwned;

use crate::cache::FetchLocks;
use crate::error::ParameterError;
use crate::provider::Provider;
use crate::value::{RawValue, Secret, Transform, Transformed};

/// Values by relative name.
type Named = Vec<(String, RawValue)>;

/// The default max age of a cached value, as in every Powertools runtime.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    fetched_at: SystemTime,
    /// Which fetch produced it (increasing): tells a waiter that another caller refreshed it.
    generation: u64,
    /// How long the cache keeps it in memory: the max age it was fetched with (at least the
    /// client's) plus the stale-if-error window, saturating.
    time_to_live: Duration,
    /// The value as shared text, made by the first [`Parameters::get_shared`] of this fetch.
    shared: std::sync::OnceLock<Arc<str>>,
}

fn next_generation() -> u64 {
    static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Options of one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct GetOptions {
    max_age: Option<Duration>,
    force_fetch: bool,
}

impl GetOptions {
    /// The default options: the client's max age, the cache used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts a cached value only if younger than `max_age` (this read only; replaces the
    /// client's max age, longer or shorter). A value stays in memory for the longer of the
    /// client's max age and the max age of the read that fetched it (plus any stale-if-error
    /// window): a read that accepts an older value than that fetches again once it is gone.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Skips the cache: fetches (and caches) a fresh value.
    pub fn force_fetch(mut self) -> Self {
        self.force_fetch = true;
        self
    }
}

/// Values of one provider behind a bounded TTL cache: a value is served while younger than its
/// max age and leaves memory once its max age (plus any stale-if-error window) has passed.
/// Concurrent misses for one name make **one** backend call (the others wait for it). Cheap to
/// clone.
///
/// ```
/// use powertools_params::{InMemoryProvider, Parameters};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let provider = InMemoryProvider::new();
/// provider.set("/orders/config.json", r#"{"max_items": 10}"#);
/// provider.set("/orders/api-key", "s3cr3t");
/// let parameters = Parameters::builder(provider).build().unwrap();
///
/// #[derive(serde::Deserialize)]
/// struct Config { max_items: u32 }
/// let config: Config = parameters.get_json("/orders/config.json").await.unwrap();
/// assert_eq!(config.max_items, 10);
/// let api_key = parameters.get_secret("/orders/api-key").await.unwrap();
/// assert_eq!(format!("{api_key:?}"), "Secret(*****)");
/// # }
/// ```
pub struct Parameters<P> {
    provider: Arc<P>,
    cache: Arc<TtlCache<Entry<RawValue>>>,
    fetches: Arc<FetchLocks>,
    multiple: Arc<TtlCache<Entry<Named>>>,
    max_age: Duration,
    stale_if_error: Option<Duration>,
    clock: Clock,
}

impl<P> Clone for Parameters<P> {
    /// Shares the provider and the cache.
    fn clone(&self) -> Self {
        Self {
            provider: Arc::clone(&self.provider),
            cache: Arc::clone(&self.cache),
            fetches: Arc::clone(&self.fetches),
            multiple: Arc::clone(&self.multiple),
            max_age: self.max_age,
            stale_if_error: self.stale_if_error,
            clock: self.clock.clone(),
        }
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for Parameters<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameters")
            .field("provider", &self.provider)
            .field("max_age", &self.max_age)
            .field("stale_if_error", &self.stale_if_error)
            .finish_non_exhaustive()
    }
}

/// Builds [`Parameters`].
///
/// ```
/// use std::time::Duration;
///
/// use powertools_params::{InMemoryProvider, Parameters};
///
/// let parameters = Parameters::builder(InMemoryProvider::new())
///     .max_age(Duration::from_secs(60)) // else POWERTOOLS_PARAMETERS_MAX_AGE (5 s)
///     .capacity(1_000) // values kept at most
///     .stale_if_error(Duration::from_secs(300)) // serve the last value while the backend fails
///     .build()?;
/// assert_eq!(parameters.max_age(), Duration::from_secs(60));
/// # Ok::<(), powertools_core::ConfigError>(())
/// ```
#[must_use]
pub struct ParametersBuilder<P> {
    provider: P,
    common: CommonConfig,
    max_age: Option<Duration>,
    capacity: u64,
    stale_if_error: Option<Duration>,
}

impl<P> std::fmt::Debug for ParametersBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParametersBuilder").finish_non_exhaustive()
    }
}

impl<P: Provider + 'static> Parameters<P> {
    /// A builder over `provider`.
    pub fn builder(provider: P) -> ParametersBuilder<P> {
        ParametersBuilder {
            provider,
            common: CommonConfig::default(),
            max_age: None,
            capacity: 1_024,
            stale_if_error: None,
        }
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// How long a value is served from the cache (the builder's, else the environment's, else
    /// [`DEFAULT_MAX_AGE`]).
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Whether a cached entry is young enough for a read that accepts `max_age`.
    fn fresh_entry<V>(&self, entry: &Entry<V>, max_age: Duration) -> bool {
        // The cache drops an entry once its time to live has passed, by its own monotonic
        // clock. When that time is the read's max age, the entry being there says it is
        // fresh, without a read of the system clock (a custom clock is always asked).
        (self.clock.is_system() && entry.time_to_live == max_age)
            || self.fresh(entry.fetched_at, max_age)
    }

    fn fresh(&self, fetched_at: SystemTime, max_age: Duration) -> bool {
        self.age(fetched_at).is_none_or(|age| age <= max_age)
    }

    fn can_serve_stale(&self, fetched_at: SystemTime, max_age: Duration) -> bool {
        // Saturating: a max age or window too large to add is an endless window, not a panic.
        self.stale_if_error.is_some_and(|window| {
            self.age(fetched_at)
                .is_none_or(|age| age <= max_age.saturating_add(window))
        })
    }

    /// How old a value fetched at `fetched_at` is; `None` when the clock went back before it.
    fn age(&self, fetched_at: SystemTime) -> Option<Duration> {
        self.clock.now().duration_since(fetched_at).ok()
    }

    /// A new entry for a value fetched now by a read that accepts `max_age`.
    fn new_entry<V>(&self, value: V, max_age: Duration) -> Arc<Entry<V>> {
        Arc::new(Entry {
            value,
            fetched_at: self.clock.now(),
            generation: next_generation(),
            time_to_live: max_age
                .max(self.max_age)
                .saturating_add(self.stale_if_error.unwrap_or(Duration::ZERO)),
            shared: std::sync::OnceLock::new(),
        })
    }

    /// The cached entry of `name`, fetched (once, for all concurrent callers) when too old.
    async fn entry(
        &self,
        name: &str,
        options: GetOptions,
    ) -> Result<Arc<Entry<RawValue>>, ParameterError> {
        let max_age = options.max_age.unwrap_or(self.max_age);
        let seen = self.cache.get(name);
        if !options.force_fetch
            && let Some(entry) = seen.as_ref()
            && self.fresh_entry(entry, max_age)
        {
            return seen.ok_or_else(|| ParameterError::not_found(name));
        }
        let seen_generation = seen.map_or(0, |entry| entry.generation);
        // Boxed: the hit above stays a small future (this one is large and rarely needed).
        Box::pin(self.fetch(name, options, max_age, seen_generation)).await
    }

    /// Fetches `name` unless another caller did since the entry of `seen_generation` was seen.
    /// One fetch per name at a time: concurrent callers wait for it and then use its result.
    async fn fetch(
        &self,
        name: &str,
        options: GetOptions,
        max_age: Duration,
        seen_generation: u64,
    ) -> Result<Arc<Entry<RawValue>>, ParameterError> {
        let _turn = self.fetches.fetching(name).await;
        let existing = self.cache.get(name);
        if let Some(entry) = &existing
            && (entry.generation > seen_generation
                || (!options.force_fetch && self.fresh_entry(entry, max_age)))
        {
            return Ok(Arc::clone(entry));
        }
        match self.provider.get(name).await {
            Ok(value) => {
                let entry = self.new_entry(value, max_age);
                self.cache
                    .insert(name, Arc::clone(&entry), entry.time_to_live);
                Ok(entry)
            }
            Err(error) => match existing {
                Some(existing)
                    if error.is_backend_failure()
                        && self.can_serve_stale(existing.fetched_at, max_age) =>
                {
                    powertools_core::warn(format_args!(
                        "serving the last good value of {name:?}: {error}"
                    ));
                    Ok(existing)
                }
                _ => Err(error),
            },
        }
    }

    /// The raw value of `name`, from the cache when young enough.
    pub async fn get_raw(
        &self,
        name: &str,
        options: GetOptions,
    ) -> Result<RawValue, ParameterError> {
        Ok(self.entry(name, options).await?.value.clone())
    }

    /// The value as text.
    pub async fn get(&self, name: &str) -> Result<String, ParameterError> {
        self.entry(name, GetOptions::new()).await?.value.text(name)
    }

    /// The value as text shared with the cache: a hit copies nothing (the text is copied once
    /// per fetch, by the first such read). For values read on every request.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use powertools_params::{InMemoryProvider, Parameters};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let provider = InMemoryProvider::new();
    /// provider.set("/orders/flag", "on");
    /// let parameters = Parameters::builder(provider).build()?;
    /// let flag: Arc<str> = parameters.get_shared("/orders/flag").await?;
    /// assert_eq!(&*flag, "on");
    /// // The next hit hands out the same text.
    /// assert!(Arc::ptr_eq(&flag, &parameters.get_shared("/orders/flag").await?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn get_shared(&self, name: &str) -> Result<Arc<str>, ParameterError> {
        let entry = self.entry(name, GetOptions::new()).await?;
        if let Some(shared) = entry.shared.get() {
            return Ok(Arc::clone(shared));
        }
        let text: Arc<str> = entry.value.text(name)?.into();
        Ok(Arc::clone(entry.shared.get_or_init(|| text)))
    }

    /// The value as text, with options.
    pub async fn get_with(
        &self,
        name: &str,
        options: GetOptions,
    ) -> Result<String, ParameterError> {
        self.entry(name, options).await?.value.text(name)
    }

    /// The value parsed as JSON into `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, ParameterError> {
        self.entry(name, GetOptions::new()).await?.value.json(name)
    }

    /// The value as bytes (base64-decoded when the backend holds text).
    pub async fn get_binary(&self, name: &str) -> Result<Vec<u8>, ParameterError> {
        self.entry(name, GetOptions::new())
            .await?
            .value
            .binary(name)
    }

    /// The value transformed as asked (`Auto` goes by the name's suffix).
    pub async fn get_transformed(
        &self,
        name: &str,
        transform: Transform,
    ) -> Result<Transformed, ParameterError> {
        self.get_raw(name, GetOptions::new())
            .await?
            .transform(name, transform)
    }

    /// The value as a [`Secret`] string.
    pub async fn get_secret(&self, name: &str) -> Result<Secret<String>, ParameterError> {
        self.get(name).await.map(Secret::new)
    }

    /// The value parsed as JSON into `T`, as a [`Secret`] (a secret that holds a JSON document,
    /// as Secrets Manager's key/value secrets do). A value that does not parse is an error that
    /// says where, never what.
    pub async fn get_secret_json<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Secret<T>, ParameterError> {
        self.get_json(name).await.map(Secret::new)
    }

    /// The values under `path`, by relative name, cached for the max age like single values
    /// (in a cache of their own, of the same capacity). Unlike single values, concurrent
    /// misses are not merged into one call and stale-if-error does not apply: a failure is an
    /// error.
    pub async fn get_multiple(
        &self,
        path: &str,
        options: GetOptions,
    ) -> Result<Vec<(String, RawValue)>, ParameterError> {
        let max_age = options.max_age.unwrap_or(self.max_age);
        if !options.force_fetch
            && let Some(entry) = self.multiple.get(path)
            && self.fresh_entry(&entry, max_age)
        {
            return Ok(entry.value.clone());
        }
        let values = self.provider.get_multiple(path).await?;
        let entry = self.new_entry(values.clone(), max_age);
        let time_to_live = entry.time_to_live;
        self.multiple.insert(path, entry, time_to_live);
        Ok(values)
    }

    /// How many single values the cache holds, counted after the cache's pending maintenance
    /// (evictions beyond [`ParametersBuilder::capacity`], removal of expired values) has run.
    pub async fn cached_len(&self) -> u64 {
        u64::try_from(self.cache.len()).unwrap_or(u64::MAX)
    }

    /// Forgets every cached value.
    pub fn clear_cache(&self) {
        self.cache.clear();
        self.multiple.clear();
    }
}

impl<P: Provider + 'static> ParametersBuilder<P> {
    powertools_core::common_setters!(common);

    /// How long a value is served from the cache (else `POWERTOOLS_PARAMETERS_MAX_AGE`
    /// seconds, else 5 s).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// How many single values the cache holds at most, and separately how many paths of
    /// [`Parameters::get_multiple`] (default 1,024; least recently used go first, when the
    /// cache's maintenance runs: the bound may be exceeded briefly under load).
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// When the backend fails after a value expired, serve the last good value for up to
    /// `window` past its max age (off by default: a failure is an error). Values stay in
    /// memory for their max age plus this window.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = Some(window);
        self
    }

    /// Builds the client (no request is made). Fails only on an explicit empty service name
    /// ([`ConfigError::EmptyServiceName`]); the environment never makes it fail.
    pub fn build(self) -> Result<Parameters<P>, ConfigError> {
        let common = self.common.resolve()?;
        let max_age = self.max_age.unwrap_or_else(|| {
            common
                .env()
                .parse::<u64>("POWERTOOLS_PARAMETERS_MAX_AGE", "a whole number of seconds")
                .map_or(DEFAULT_MAX_AGE, Duration::from_secs)
        });
        Ok(Parameters {
            provider: Arc::new(self.provider),
            cache: Arc::new(TtlCache::new(self.capacity)),
            fetches: Arc::new(FetchLocks::default()),
            multiple: Arc::new(TtlCache::new(self.capacity)),
            max_age,
            stale_if_error: self.stale_if_error,
            clock: common.clock().clone(),
        })
    }
}
