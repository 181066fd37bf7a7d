//! Parameters, secrets and feature flags for AWS Lambda behind a TTL cache with single-flight
//! fetches.
//!
//! Configuration belongs in Parameter Store, secrets in Secrets Manager, feature flags in
//! AppConfig: fetched once and cached with a TTL, never on every call (SSM throttles at tens of
//! requests per second) and never forever (rotation must work). [`Parameters`] puts any
//! [`Provider`] behind a bounded TTL cache; concurrent misses for one name make one backend
//! call.
//!
//! # Getting started
//!
//! ```no_run
//! # #[cfg(all(feature = "ssm", feature = "secrets", feature = "appconfig"))]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use powertools_params::{AppConfigProvider, Parameters, SecretsProvider, SsmProvider};
//!
//! // At INIT: clients only, no request.
//! let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
//! let ssm = Parameters::builder(SsmProvider::new(aws_sdk_ssm::Client::new(&sdk))).build()?;
//! let secrets = Parameters::builder(SecretsProvider::new(aws_sdk_secretsmanager::Client::new(&sdk))).build()?;
//! let flags = Parameters::builder(AppConfigProvider::new(aws_sdk_appconfigdata::Client::new(&sdk), "orders", "prod")).build()?;
//!
//! // In the handler: cached for 5 s (POWERTOOLS_PARAMETERS_MAX_AGE).
//! let table: String = ssm.get("/orders/table-name").await?;
//! #[derive(serde::Deserialize)]
//! struct Limits { max_items: u32 }
//! let limits: Limits = ssm.get_json("/orders/limits.json").await?;
//! let api_key = secrets.get_secret("payments/api-key").await?; // Debug/Display: *****
//! #[derive(serde::Deserialize)]
//! struct Flags { new_checkout: bool }
//! let features: Flags = flags.get_json("feature-flags").await?;
//! # let _ = (table, limits.max_items, api_key, features.new_checkout); Ok(()) }
//! ```
//!
//! # Providers and IAM
//!
//! | provider (feature) | reads | IAM actions |
//! |---|---|---|
//! | [`SsmProvider`] (`ssm`) | one parameter; a path (recursive by default, names relative to the path); names in chunks of 10 with per-name results; `set` | `ssm:GetParameter`, `ssm:GetParametersByPath`, `ssm:GetParameters` (`kms:Decrypt` for SecureString with decryption; `ssm:PutParameter` to set) |
//! | [`SecretsProvider`] (`secrets`) | `SecretString` as text, `SecretBinary` as bytes | `secretsmanager:GetSecretValue` (`kms:Decrypt` with a customer managed key) |
//! | [`AppConfigProvider`] (`appconfig`) | a configuration profile by name | `appconfig:StartConfigurationSession`, `appconfig:GetLatestConfiguration` |
//! | [`DynamoDbProvider`] (`dynamodb`) | `id` → `value`; many values under one `id` by sort key `sk` | `dynamodb:GetItem`, `dynamodb:Query` |
//! | [`InMemoryProvider`] | values set in code (embedded default, tests) | none |
//!
//! # Environment variables
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POWERTOOLS_PARAMETERS_MAX_AGE` | seconds a value is served from the cache | `5` |
//! | `POWERTOOLS_PARAMETERS_SSM_DECRYPT` | decrypt SecureString parameters | `false` |
//!
//! A malformed value (`-1`, `2.5`, `5s`, a number past `u64::MAX`) is reported once on stderr
//! and the default is used; explicit builder values beat the environment. Any max age and any
//! stale-if-error window are accepted, up to [`Duration::MAX`](std::time::Duration::MAX): sums
//! that do not fit saturate (an endless window), they never panic.
//!
//! # Caching
//!
//! - A value is served from the cache while younger than the max age (builder, else
//!   `POWERTOOLS_PARAMETERS_MAX_AGE`, else 5 s); [`GetOptions::max_age`] replaces it for one
//!   read; [`GetOptions::force_fetch`] skips the cache; [`Parameters::clear_cache`] forgets all.
//! - **Single-flight**: when a name is missing or too old, one caller fetches it and every
//!   concurrent caller waits for that fetch: 100 concurrent reads of a cold name make one call.
//!   (Paths read with [`Parameters::get_multiple`] are cached the same way, without
//!   single-flight and without stale-if-error.)
//! - **Expiry**: a value leaves memory (secrets included) once the longer of the client's max
//!   age and the max age of the read that fetched it has passed, plus the stale-if-error window
//!   if any; the cache measures this with its own monotonic clock, not the builder's `clock`.
//! - The cache is bounded ([`ParametersBuilder::capacity`], default 1,024 values; least
//!   recently used go first, when the cache's maintenance runs; [`Parameters::cached_len`]
//!   runs it and counts). An evicted name is fetched again on its next read.
//! - **Stale-if-error** (off by default): with [`ParametersBuilder::stale_if_error`], when the
//!   backend fails on a refetch (the value expired, or a forced fetch), the last good value is
//!   served for up to that window past its max age (with a line on stderr). A missing
//!   parameter is never papered over.
//! - AppConfig keeps one session per profile: an empty response means "unchanged" and returns
//!   the last value; tokens older than 24 hours start a new session.
//!
//! # Values
//!
//! [`Parameters::get`] (text), [`Parameters::get_json`] (any `DeserializeOwned`),
//! [`Parameters::get_binary`] (base64 text decoded, or binary as is),
//! [`Parameters::get_transformed`] with [`Transform::Auto`] (`.json` and `.binary` suffixes),
//! [`Parameters::get_secret`] (a [`Secret`], whose `Debug` and `Display` never show the value).
//! Errors name the parameter and tell not found from access denied from backend failure
//! ([`ParameterError`]); they never contain the value, in `Display`, `Debug` or any
//! `source()`: a value that cannot be read as asked is described by the kind of failure and
//! its position (`the value is JSON but does not fit the target type u32 (data error at line
//! 1, column 12)`), never by serde's or base64's message, which quote it; an SDK error is kept
//! without the raw HTTP response (whose body may be the value); the service's message to a call
//! that sends a value (`SsmProvider::set`) is always withheld, only its error code is kept (the
//! message may quote the value, and the SDK shows it escaped, where no search for it finds it).
//!
//! # Testing your code
//!
//! Put an [`InMemoryProvider`] behind [`Parameters`] (it counts its calls and can be told to
//! fail) and give the builder a clock to move time (`powertools_testing::ManualClock`): the
//! clock decides whether a cached value is fresh; removal from memory follows real time. End to end, the project's `scripts/test`
//! runs the SSM and Secrets Manager providers against moto, DynamoDB against DynamoDB Local, and
//! AppConfig against a fake AppConfigData server in the tests.
//!
// Links to the providers of features that are off: their page on docs.rs (which documents
// every feature).
#![cfg_attr(
    not(feature = "ssm"),
    doc = "[`SsmProvider`]: https://docs.rs/powertools-params/latest/powertools_params/struct.SsmProvider.html"
)]
#![cfg_attr(
    not(feature = "secrets"),
    doc = "[`SecretsProvider`]: https://docs.rs/powertools-params/latest/powertools_params/struct.SecretsProvider.html"
)]
#![cfg_attr(
    not(feature = "appconfig"),
    doc = "[`AppConfigProvider`]: https://docs.rs/powertools-params/latest/powertools_params/struct.AppConfigProvider.html"
)]
#![cfg_attr(
    not(feature = "dynamodb"),
    doc = "[`DynamoDbProvider`]: https://docs.rs/powertools-params/latest/powertools_params/struct.DynamoDbProvider.html"
)]

#[cfg(feature = "appconfig")]
mod appconfig;
#[cfg(any(
    feature = "ssm",
    feature = "secrets",
    feature = "dynamodb",
    feature = "appconfig"
))]
mod aws;
#[cfg(feature = "dynamodb")]
mod dynamodb;
mod error;
mod parameters;
mod provider;
#[cfg(feature = "secrets")]
mod secrets;
#[cfg(feature = "ssm")]
mod ssm;
mod value;

#[cfg(feature = "appconfig")]
pub use appconfig::AppConfigProvider;
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbProvider;
pub use error::ParameterError;
pub use parameters::{DEFAULT_MAX_AGE, GetOptions, Parameters, ParametersBuilder};
pub use powertools_core::BoxFuture;
pub use provider::{InMemoryProvider, Provider};
#[cfg(feature = "secrets")]
pub use secrets::SecretsProvider;
#[cfg(feature = "ssm")]
pub use ssm::SsmProvider;
pub use value::{RawValue, Secret, Transform, Transformed};
