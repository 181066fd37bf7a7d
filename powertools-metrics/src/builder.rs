//! Building a [`Metrics`] client: explicit values first, then environment variables.

use powertools_core::{CommonConfig, DEFAULT_SERVICE_NAME, LineWriter};

use crate::emf::MAX_DIMENSIONS;
use crate::error::MetricsError;
use crate::metrics::{Metrics, Settings};
use crate::output::Output;
use crate::validate::{
    LEVEL, LEVEL_MEMBER, SERVICE, clash, validate_dimension, validate_namespace,
};

/// What a dimension value read from the environment must be, when reported.
const DIMENSION_VALUE: &str = "1 to 1024 ASCII characters (a CloudWatch dimension value)";

/// Lambda's spelling of an application log level (`AWS_LAMBDA_LOG_LEVEL`).
fn lambda_log_level(value: &str) -> Option<&'static str> {
    ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
        .into_iter()
        .find(|level| level.eq_ignore_ascii_case(value.trim()))
}

/// What `build` writes on stderr when Lambda will drop every blob: a JSON line at the
/// application level, so that the same filtering keeps it.
fn dropped_blobs_warning(level: &str) -> String {
    let message = format!(
        "[powertools] metrics: AWS_LAMBDA_LOG_FORMAT=JSON with application log level {level}: Lambda drops every JSON line without a \"level\" at or above {level}, so every EMF blob will be lost. Fix: leave MetricsBuilder::log_level_key on (blobs then carry \"level\":\"{level}\"), or set the application log level to INFO"
    );
    serde_json::json!({ "level": level, "message": message }).to_string()
}

impl Metrics {
    /// A builder reading unset values from the process environment.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// A client configured from the environment, writing to stdout.
    ///
    /// Fails when no namespace is configured (`POWERTOOLS_METRICS_NAMESPACE`) or it is
    /// invalid: CloudWatch needs one, and there is no default to fall back to. Any other
    /// malformed variable is reported once on stderr and replaced by its default.
    ///
    /// ```
    /// use powertools_metrics::{Metrics, MetricsError};
    ///
    /// match Metrics::try_from_env() {
    ///     Ok(metrics) => println!("writing to {}", metrics.namespace()),
    ///     Err(MetricsError::MissingNamespace) => {
    ///         // Set POWERTOOLS_METRICS_NAMESPACE, or `Metrics::builder().namespace(..)`.
    ///     }
    ///     Err(other) => eprintln!("{other}"),
    /// }
    /// ```
    pub fn try_from_env() -> Result<Self, MetricsError> {
        MetricsBuilder::default().build()
    }
}

/// Builds [`Metrics`]: explicit values first, then environment variables.
///
/// ```
/// use powertools_metrics::Metrics;
///
/// let metrics = Metrics::builder()
///     .namespace("Orders") // else POWERTOOLS_METRICS_NAMESPACE (required one way or the other)
///     .service_name("orders") // the `service` dimension
///     .default_dimension("environment", "prod") // on every blob
///     .build()?;
/// assert_eq!(metrics.namespace(), "Orders");
/// # Ok::<(), powertools_metrics::MetricsError>(())
/// ```
#[must_use]
#[derive(Debug, Default)]
pub struct MetricsBuilder {
    common: CommonConfig,
    namespace: Option<String>,
    function_name: Option<String>,
    default_dimensions: Vec<(String, String)>,
    disabled: Option<bool>,
    raise_on_empty: bool,
    replay_metric: bool,
    log_level_key: Option<bool>,
    writer: Option<LineWriter>,
}

impl MetricsBuilder {
    powertools_core::common_setters!(common);

    /// Sets the namespace (else `POWERTOOLS_METRICS_NAMESPACE`; one of them is required).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the `function_name` of the `ColdStart` metric (else
    /// `POWERTOOLS_METRICS_FUNCTION_NAME`, else the Lambda function name).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = Some(name.into());
        self
    }

    /// Adds a dimension to every blob (validated by `build`).
    pub fn default_dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_dimensions.push((name.into(), value.into()));
        self
    }

    /// Turns output off (else `POWERTOOLS_METRICS_DISABLED`).
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Makes an invocation that added no metrics an error instead of a warning. An invocation
    /// that replayed an idempotent response (the handler did not run, so added nothing) is
    /// not empty.
    pub fn raise_on_empty_metrics(mut self, on: bool) -> Self {
        self.raise_on_empty = on;
        self
    }

    /// Adds the metric `IdempotentReplay` (unit `Count`: how many stored responses
    /// `powertools-idempotency` replayed) to the blob of every invocation that replayed one.
    /// Off by default (a custom metric is billed).
    pub fn idempotent_replay_metric(mut self, on: bool) -> Self {
        self.replay_metric = on;
        self
    }

    /// Adds a root member `"level"` to every blob, set to Lambda's application log level
    /// (`AWS_LAMBDA_LOG_LEVEL`, else `INFO`), so that Lambda's log-level filtering keeps the
    /// blobs. Default: on when `AWS_LAMBDA_LOG_FORMAT` is `JSON` and the application log level
    /// is above `INFO` (Lambda would drop every blob otherwise), off elsewhere.
    pub fn log_level_key(mut self, on: bool) -> Self {
        self.log_level_key = Some(on);
        self
    }

    /// Writes each blob through `writer` (default: stdout), whole (tests:
    /// `powertools_testing::CapturedOutput::line_writer`).
    pub fn writer(mut self, writer: LineWriter) -> Self {
        self.writer = Some(writer);
        self
    }

    /// Validates and builds the client.
    ///
    /// The `service` dimension is the service name resolved as for every utility (explicit,
    /// else the function configuration's, else `POWERTOOLS_SERVICE_NAME`, else
    /// `service_undefined`), and the function configuration the layer gives each invocation
    /// carries the same name. An explicit name that is not a valid dimension value is an
    /// error; one from the environment is reported and replaced by `service_undefined`.
    pub fn build(self) -> Result<Metrics, MetricsError> {
        let common = self.common.resolve()?;
        let env = common.env();
        let namespace = self
            .namespace
            .or_else(|| env.string("POWERTOOLS_METRICS_NAMESPACE"))
            .ok_or(MetricsError::MissingNamespace)?;
        validate_namespace(&namespace)?;
        let mut config = common.function_config().clone();
        if let Err(invalid) = validate_dimension(SERVICE, config.service_name()) {
            let from_env = !self.common.has_explicit_service_name()
                && env.string("POWERTOOLS_SERVICE_NAME").as_deref() == Some(config.service_name());
            if !from_env {
                return Err(invalid);
            }
            // From the environment: reported, and the default used, by the scope too.
            env.report(
                "POWERTOOLS_SERVICE_NAME",
                config.service_name(),
                DIMENSION_VALUE,
            );
            config = config
                .to_builder()
                .service_name(DEFAULT_SERVICE_NAME)
                .build()?;
        }
        let mut default_dimensions: Vec<(String, String)> = Vec::new();
        for (name, value) in self.default_dimensions {
            validate_dimension(&name, &value)?;
            if name == SERVICE {
                return Err(MetricsError::NameClash {
                    name,
                    used_as: "dimension (`service` is always present)",
                });
            }
            match default_dimensions.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => default_dimensions.push((name, value)),
            }
        }
        if 1 + default_dimensions.len() > MAX_DIMENSIONS {
            return Err(MetricsError::TooManyDimensions(
                1 + default_dimensions.len(),
            ));
        }
        let disabled = self
            .disabled
            .unwrap_or_else(|| env.bool("POWERTOOLS_METRICS_DISABLED").unwrap_or(false));
        let json_logs = env
            .string("AWS_LAMBDA_LOG_FORMAT")
            .is_some_and(|format| format.trim().eq_ignore_ascii_case("json"));
        let app_level = env
            .string("AWS_LAMBDA_LOG_LEVEL")
            .and_then(|level| lambda_log_level(&level));
        // Lambda drops JSON lines without `level` below the application level; a missing
        // level counts as INFO.
        let dropped =
            json_logs && app_level.is_some_and(|l| matches!(l, "WARN" | "ERROR" | "FATAL"));
        let log_level = match self.log_level_key {
            Some(true) => Some(app_level.unwrap_or("INFO")),
            Some(false) => None,
            None => app_level.filter(|_| dropped),
        };
        if let Some(level) = app_level.filter(|_| dropped && log_level.is_none() && !disabled) {
            eprintln!("{}", dropped_blobs_warning(level));
        }
        if log_level.is_some()
            && let Some((name, _)) = default_dimensions.iter().find(|(k, _)| k == LEVEL)
        {
            return Err(clash(name, LEVEL_MEMBER));
        }
        if let Some(name) = &self.function_name {
            validate_dimension("function_name", name)?;
        }
        let function_name = self
            .function_name
            .or_else(|| {
                env.string("POWERTOOLS_METRICS_FUNCTION_NAME")
                    .filter(|name| {
                        let valid = validate_dimension("function_name", name).is_ok();
                        if !valid {
                            env.report("POWERTOOLS_METRICS_FUNCTION_NAME", name, DIMENSION_VALUE);
                        }
                        valid
                    })
            })
            .or_else(|| config.function_name().map(str::to_owned));
        Ok(Metrics::new(Settings {
            output: Output {
                config,
                clock: common.clock().clone(),
                namespace,
                default_dimensions,
                disabled,
                log_level,
                writer: self.writer.unwrap_or_default(),
            },
            function_name,
            raise_on_empty: self.raise_on_empty,
            replay_metric: self.replay_metric,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_warning_is_a_json_line_that_lambda_keeps_and_names_the_fix() {
        let line = dropped_blobs_warning("ERROR");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["level"], "ERROR");
        let message = parsed["message"].as_str().unwrap();
        assert!(message.contains("log_level_key"), "{message}");
        assert!(message.contains("INFO"), "{message}");
        assert_eq!(lambda_log_level(" warn "), Some("WARN"));
        assert_eq!(lambda_log_level("WARNING"), None);
    }
}
