//! What the library knows about "this function", read once from the Lambda environment.

use std::fmt;
use std::sync::Arc;

use crate::env::Env;

/// The service name used when none is configured, as in every Powertools runtime.
pub const DEFAULT_SERVICE_NAME: &str = "service_undefined";

/// How this execution environment was initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InitializationType {
    /// `on-demand` (or unset): the first invocation is a cold start.
    #[default]
    OnDemand,
    /// `provisioned-concurrency`: initialised ahead of traffic, never a cold start.
    ProvisionedConcurrency,
    /// `snap-start`: restored from a snapshot, never a cold start.
    SnapStart,
    /// `lambda-managed-instances`: Lambda Managed Instances, initialised ahead of traffic and
    /// serving concurrent invocations; never a cold start.
    ManagedInstances,
    /// A value this version does not know (kept verbatim). Only `on-demand` can cold-start, as
    /// in Powertools for TypeScript, so this never is one either.
    Other(String),
}

impl InitializationType {
    /// Parses the variable's value; unknown values are kept as [`InitializationType::Other`].
    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "" | "on-demand" => Self::OnDemand,
            "provisioned-concurrency" => Self::ProvisionedConcurrency,
            "snap-start" => Self::SnapStart,
            "lambda-managed-instances" => Self::ManagedInstances,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether the first invocation of such an environment counts as a cold start: only
    /// `on-demand` (or unset); every other type was initialised ahead of traffic.
    pub fn can_cold_start(&self) -> bool {
        matches!(self, Self::OnDemand)
    }
}

/// An explicit configuration value that [`FunctionConfigBuilder::build`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The service name was set to an empty or blank string.
    #[error(
        "service name is empty: set a non-empty name or leave it unset for `{DEFAULT_SERVICE_NAME}`"
    )]
    EmptyServiceName,
    /// The memory size was set to zero.
    #[error("function memory size is 0 MB: set the configured memory in MB, or leave it unset")]
    ZeroMemory,
}

/// The function's configuration: service name, function name, memory, version, region,
/// initialisation type and concurrency, as Lambda sets them in the environment.
///
/// Build it once at INIT (reading a dozen variables costs microseconds) and share it:
///
/// ```
/// use powertools_core::{Env, FunctionConfig};
///
/// let config = FunctionConfig::from_lookup(|key| match key {
///     "AWS_LAMBDA_FUNCTION_NAME" => Some("orders-api".to_owned()),
///     "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("512".to_owned()),
///     _ => None,
/// });
/// assert_eq!(config.function_name(), Some("orders-api"));
/// assert_eq!(config.memory_size_mb(), Some(512));
/// assert_eq!(config.service_name(), "service_undefined");
///
/// // Explicit values beat the environment.
/// let config = FunctionConfig::builder()
///     .env(Env::from_pairs([("POWERTOOLS_SERVICE_NAME", "from-env")]))
///     .service_name("orders")
///     .build()
///     .unwrap();
/// assert_eq!(config.service_name(), "orders");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    service_name: Arc<str>,
    function_name: Option<Arc<str>>,
    function_version: Option<Arc<str>>,
    memory_size_mb: Option<u32>,
    region: Option<Arc<str>>,
    log_group: Option<Arc<str>>,
    log_stream: Option<Arc<str>>,
    initialization_type: InitializationType,
    max_concurrency: Option<u32>,
    dev_mode: bool,
}

impl fmt::Debug for FunctionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionConfig")
            .field("service_name", &self.service_name)
            .field("function_name", &self.function_name)
            .field("function_version", &self.function_version)
            .field("memory_size_mb", &self.memory_size_mb)
            .field("region", &self.region)
            .field("initialization_type", &self.initialization_type)
            .field("max_concurrency", &self.max_concurrency)
            .field("dev_mode", &self.dev_mode)
            .finish_non_exhaustive()
    }
}

impl Default for FunctionConfig {
    /// A configuration with every value unset: not in Lambda, service `service_undefined`.
    fn default() -> Self {
        Self {
            service_name: Arc::from(DEFAULT_SERVICE_NAME),
            function_name: None,
            function_version: None,
            memory_size_mb: None,
            region: None,
            log_group: None,
            log_stream: None,
            initialization_type: InitializationType::OnDemand,
            max_concurrency: None,
            dev_mode: false,
        }
    }
}

impl FunctionConfig {
    /// Reads the process environment. Never fails: malformed values are reported once on stderr
    /// and replaced by their defaults.
    pub fn from_env() -> Self {
        Self::from_source(&Env::from_env())
    }

    /// Reads values through `lookup` instead of the process environment.
    pub fn from_lookup<F>(lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        Self::from_source(&Env::from_lookup(lookup))
    }

    /// Reads values from `env`.
    pub fn from_source(env: &Env) -> Self {
        let arc = |key: &str| env.string(key).map(Arc::<str>::from);
        Self {
            service_name: arc("POWERTOOLS_SERVICE_NAME")
                .unwrap_or_else(|| Arc::from(DEFAULT_SERVICE_NAME)),
            function_name: arc("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: arc("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_size_mb: env
                .parse::<u32>(
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                    "a positive whole number of megabytes",
                )
                .filter(|mb| *mb > 0),
            region: arc("AWS_REGION").or_else(|| arc("AWS_DEFAULT_REGION")),
            log_group: arc("AWS_LAMBDA_LOG_GROUP_NAME"),
            log_stream: arc("AWS_LAMBDA_LOG_STREAM_NAME"),
            initialization_type: env
                .string("AWS_LAMBDA_INITIALIZATION_TYPE")
                .map(|v| InitializationType::parse(&v))
                .unwrap_or_default(),
            max_concurrency: env
                .parse::<u32>("AWS_LAMBDA_MAX_CONCURRENCY", "a positive whole number")
                .filter(|n| *n > 0),
            dev_mode: env.bool("POWERTOOLS_DEV").unwrap_or(false),
        }
    }

    /// A builder that starts from the process environment; its setters override it.
    pub fn builder() -> FunctionConfigBuilder {
        FunctionConfigBuilder::default()
    }

    /// A builder that starts from this configuration; its setters override it.
    pub fn to_builder(&self) -> FunctionConfigBuilder {
        FunctionConfigBuilder {
            base: Some(self.clone()),
            ..FunctionConfigBuilder::default()
        }
    }

    /// The service name (`POWERTOOLS_SERVICE_NAME`), `service_undefined` by default.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`); `None` outside Lambda.
    pub fn function_name(&self) -> Option<&str> {
        self.function_name.as_deref()
    }

    /// The function version (`AWS_LAMBDA_FUNCTION_VERSION`), e.g. `$LATEST`.
    pub fn function_version(&self) -> Option<&str> {
        self.function_version.as_deref()
    }

    /// The configured memory in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub fn memory_size_mb(&self) -> Option<u32> {
        self.memory_size_mb
    }

    /// The AWS region (`AWS_REGION`, else `AWS_DEFAULT_REGION`).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The CloudWatch log group (`AWS_LAMBDA_LOG_GROUP_NAME`).
    pub fn log_group(&self) -> Option<&str> {
        self.log_group.as_deref()
    }

    /// The CloudWatch log stream (`AWS_LAMBDA_LOG_STREAM_NAME`).
    pub fn log_stream(&self) -> Option<&str> {
        self.log_stream.as_deref()
    }

    /// How the execution environment was initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`).
    pub fn initialization_type(&self) -> &InitializationType {
        &self.initialization_type
    }

    /// How many invocations may run at once in this process (`AWS_LAMBDA_MAX_CONCURRENCY`, set on
    /// Lambda Managed Instances); `None` means one at a time.
    pub fn max_concurrency(&self) -> Option<u32> {
        self.max_concurrency
    }

    /// `POWERTOOLS_DEV`: human-friendly output for local runs.
    pub fn dev_mode(&self) -> bool {
        self.dev_mode
    }

    /// Whether this process runs inside Lambda (a function name is set).
    pub fn is_lambda(&self) -> bool {
        self.function_name.is_some()
    }
}

/// Builds a [`FunctionConfig`]: explicit values first, then the environment, then defaults.
#[derive(Debug, Default)]
#[must_use]
pub struct FunctionConfigBuilder {
    base: Option<FunctionConfig>,
    env: Option<Env>,
    service_name: Option<String>,
    function_name: Option<String>,
    function_version: Option<String>,
    memory_size_mb: Option<u32>,
    region: Option<String>,
    initialization_type: Option<InitializationType>,
    max_concurrency: Option<u32>,
    dev_mode: Option<bool>,
}

impl FunctionConfigBuilder {
    /// Reads unset values from `env` instead of the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Sets the service name.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Sets the function name.
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = Some(name.into());
        self
    }

    /// Sets the function version.
    pub fn function_version(mut self, version: impl Into<String>) -> Self {
        self.function_version = Some(version.into());
        self
    }

    /// Sets the memory size in MB.
    pub fn memory_size_mb(mut self, mb: u32) -> Self {
        self.memory_size_mb = Some(mb);
        self
    }

    /// Sets the region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the initialisation type.
    pub fn initialization_type(mut self, kind: InitializationType) -> Self {
        self.initialization_type = Some(kind);
        self
    }

    /// Sets the maximum number of concurrent invocations in this process.
    pub fn max_concurrency(mut self, n: u32) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// Turns developer mode on or off.
    pub fn dev_mode(mut self, on: bool) -> Self {
        self.dev_mode = Some(on);
        self
    }

    /// Validates the explicit values and fills the rest from the environment.
    pub fn build(self) -> Result<FunctionConfig, ConfigError> {
        if let Some(name) = &self.service_name
            && name.trim().is_empty()
        {
            return Err(ConfigError::EmptyServiceName);
        }
        if self.memory_size_mb == Some(0) {
            return Err(ConfigError::ZeroMemory);
        }
        let mut config = match self.base {
            Some(base) => base,
            None => FunctionConfig::from_source(&self.env.unwrap_or_else(Env::from_env)),
        };
        if let Some(v) = self.service_name {
            config.service_name = Arc::from(v.trim());
        }
        if let Some(v) = self.function_name {
            config.function_name = Some(Arc::from(v));
        }
        if let Some(v) = self.function_version {
            config.function_version = Some(Arc::from(v));
        }
        if let Some(v) = self.memory_size_mb {
            config.memory_size_mb = Some(v);
        }
        if let Some(v) = self.region {
            config.region = Some(Arc::from(v));
        }
        if let Some(v) = self.initialization_type {
            config.initialization_type = v;
        }
        if let Some(v) = self.max_concurrency {
            config.max_concurrency = Some(v).filter(|n| *n > 0);
        }
        if let Some(v) = self.dev_mode {
            config.dev_mode = v;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Malformed, collecting as env_with_reports};
    use std::sync::Mutex;

    fn reported_keys(reports: &Mutex<Vec<Malformed>>) -> Vec<String> {
        reports
            .lock()
            .map(|v| v.iter().map(|m| m.key.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reads_a_full_lambda_environment() {
        let (env, reports) = env_with_reports(&[
            ("POWERTOOLS_SERVICE_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders-api"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]abc"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "8"),
            ("POWERTOOLS_DEV", "true"),
        ]);
        let c = FunctionConfig::from_source(&env);
        assert_eq!(c.service_name(), "orders");
        assert_eq!(c.function_name(), Some("orders-api"));
        assert_eq!(c.function_version(), Some("$LATEST"));
        assert_eq!(c.memory_size_mb(), Some(512));
        assert_eq!(c.region(), Some("eu-west-1"));
        assert_eq!(c.log_group(), Some("/aws/lambda/orders-api"));
        assert_eq!(c.log_stream(), Some("2026/11/21/[$LATEST]abc"));
        assert_eq!(c.initialization_type(), &InitializationType::OnDemand);
        assert_eq!(c.max_concurrency(), Some(8));
        assert!(c.dev_mode());
        assert!(c.is_lambda());
        assert!(reported_keys(&reports).is_empty());
    }

    #[test]
    fn empty_environment_gives_defaults() {
        let c = FunctionConfig::from_lookup(|_| None);
        assert_eq!(c, FunctionConfig::default());
        assert_eq!(c.service_name(), DEFAULT_SERVICE_NAME);
        assert!(!c.is_lambda());
    }

    #[test]
    fn malformed_values_fall_back_and_are_reported() {
        let (env, reports) = env_with_reports(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512MB"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "-3"),
            ("POWERTOOLS_DEV", "sometimes"),
            ("POWERTOOLS_SERVICE_NAME", "   "),
        ]);
        let c = FunctionConfig::from_source(&env);
        assert_eq!(c.memory_size_mb(), None);
        assert_eq!(c.max_concurrency(), None);
        assert!(!c.dev_mode());
        assert_eq!(c.service_name(), DEFAULT_SERVICE_NAME);
        assert_eq!(
            reported_keys(&reports),
            [
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_MAX_CONCURRENCY",
                "POWERTOOLS_DEV"
            ]
        );
    }

    #[test]
    fn zero_memory_and_zero_concurrency_mean_unset() {
        let (env, _) = env_with_reports(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "0"),
        ]);
        let c = FunctionConfig::from_source(&env);
        assert_eq!(c.memory_size_mb(), None);
        assert_eq!(c.max_concurrency(), None);
    }

    #[test]
    fn region_falls_back_to_default_region() {
        let (env, _) = env_with_reports(&[("AWS_DEFAULT_REGION", "us-east-2")]);
        assert_eq!(
            FunctionConfig::from_source(&env).region(),
            Some("us-east-2")
        );
    }

    #[test]
    fn initialization_types() {
        for (raw, kind, cold) in [
            ("on-demand", InitializationType::OnDemand, true),
            (
                "provisioned-concurrency",
                InitializationType::ProvisionedConcurrency,
                false,
            ),
            ("snap-start", InitializationType::SnapStart, false),
            ("", InitializationType::OnDemand, true),
            (
                "lambda-managed-instances",
                InitializationType::ManagedInstances,
                false,
            ),
            (
                "some-future-type",
                InitializationType::Other("some-future-type".into()),
                false,
            ),
        ] {
            let parsed = InitializationType::parse(raw);
            assert_eq!(parsed, kind, "{raw}");
            assert_eq!(parsed.can_cold_start(), cold, "{raw}");
        }
    }

    #[test]
    fn builder_values_beat_the_environment() {
        let (env, _) = env_with_reports(&[
            ("POWERTOOLS_SERVICE_NAME", "env-service"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_NAME", "env-fn"),
        ]);
        let c = FunctionConfig::builder()
            .env(env)
            .service_name("explicit")
            .memory_size_mb(1024)
            .initialization_type(InitializationType::SnapStart)
            .build();
        let c = c.unwrap_or_default();
        assert_eq!(c.service_name(), "explicit");
        assert_eq!(c.memory_size_mb(), Some(1024));
        assert_eq!(c.function_name(), Some("env-fn"));
        assert_eq!(c.initialization_type(), &InitializationType::SnapStart);
    }

    #[test]
    fn to_builder_keeps_every_other_value() {
        let (env, _) = env_with_reports(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-api"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_REGION", "eu-west-1"),
        ]);
        let base = FunctionConfig::from_source(&env);
        let changed = base
            .to_builder()
            .service_name("orders")
            .build()
            .unwrap_or_default();
        assert_eq!(changed.service_name(), "orders");
        assert_eq!(changed.function_name(), Some("orders-api"));
        assert_eq!(changed.memory_size_mb(), Some(256));
        assert_eq!(changed.region(), Some("eu-west-1"));
    }

    #[test]
    fn builder_rejects_invalid_explicit_values() {
        let env = Env::from_lookup(|_| None);
        assert_eq!(
            FunctionConfig::builder()
                .env(env.clone())
                .service_name(" ")
                .build(),
            Err(ConfigError::EmptyServiceName)
        );
        assert_eq!(
            FunctionConfig::builder().env(env).memory_size_mb(0).build(),
            Err(ConfigError::ZeroMemory)
        );
    }
}
