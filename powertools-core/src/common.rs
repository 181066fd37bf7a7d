//! The configuration every utility's builder holds: environment, function configuration,
//! service name and clock, resolved one way for all of them.

use crate::clock::Clock;
use crate::config::{ConfigError, FunctionConfig};
use crate::env::Env;

/// The part of every utility's builder that is the same everywhere: where the environment is
/// read from, the function configuration, the service name and the clock. The builders expose
/// it through the same four setters (`env`, `function_config`, `service_name`, `clock`) and
/// call [`CommonConfig::resolve`] in their `build()`.
///
/// Resolution, the same for every utility: the explicit service name, else the explicit
/// function configuration's, else `POWERTOOLS_SERVICE_NAME` from the environment, else
/// `service_undefined`. The resolved [`FunctionConfig`] carries that name, so the invocation
/// scope, the log lines, the metrics dimension and the trace annotation all agree.
///
/// ```
/// use powertools_core::{CommonConfig, Env};
///
/// let mut common = CommonConfig::default();
/// common.set_env(Env::from_pairs([("POWERTOOLS_SERVICE_NAME", "from-env")]));
/// assert_eq!(common.resolve().unwrap().function_config().service_name(), "from-env");
///
/// common.set_service_name("orders");
/// let resolved = common.resolve().unwrap();
/// assert_eq!(resolved.function_config().service_name(), "orders");
/// assert_eq!(resolved.service_name(), "orders");
///
/// common.set_service_name("  ");
/// assert!(common.resolve().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CommonConfig {
    env: Option<Env>,
    function_config: Option<FunctionConfig>,
    service_name: Option<String>,
    clock: Option<Clock>,
}

impl CommonConfig {
    /// Reads the utility's variables from `env` instead of the process environment.
    pub fn set_env(&mut self, env: Env) {
        self.env = Some(env);
    }

    /// Uses `config` instead of the function configuration read from the environment.
    pub fn set_function_config(&mut self, config: FunctionConfig) {
        self.function_config = Some(config);
    }

    /// Sets the service name explicitly.
    pub fn set_service_name(&mut self, name: impl Into<String>) {
        self.service_name = Some(name.into());
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
    }

    /// Whether the service name was set explicitly (rather than read from the environment).
    pub fn has_explicit_service_name(&self) -> bool {
        self.service_name.is_some()
    }

    /// Resolves the configuration (see the type's docs). Fails only on an explicit empty
    /// service name; the environment never makes it fail.
    pub fn resolve(&self) -> Result<Common, ConfigError> {
        let env = self.env.clone().unwrap_or_else(Env::from_env);
        let config = match &self.function_config {
            Some(config) => config.clone(),
            None => FunctionConfig::from_source(&env),
        };
        let config = match &self.service_name {
            Some(name) => config.to_builder().service_name(name.clone()).build()?,
            None => config,
        };
        Ok(Common {
            env,
            function_config: config,
            clock: self.clock.clone().unwrap_or_default(),
        })
    }
}

/// A resolved [`CommonConfig`]: what a utility keeps once built.
#[derive(Debug, Clone)]
pub struct Common {
    env: Env,
    function_config: FunctionConfig,
    clock: Clock,
}

impl Common {
    /// Where the utility's own variables are read from.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The function configuration, carrying the resolved service name.
    pub fn function_config(&self) -> &FunctionConfig {
        &self.function_config
    }

    /// The resolved service name.
    pub fn service_name(&self) -> &str {
        self.function_config.service_name()
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

/// The four setters every utility builder has, delegating to its [`CommonConfig`] field.
///
/// Used inside an `impl` block: `powertools_core::common_setters!(common);`.
#[doc(hidden)]
#[macro_export]
macro_rules! common_setters {
    ($field:ident) => {
        /// Reads this utility's environment variables from `env` instead of the process
        /// environment (tests).
        pub fn env(mut self, env: $crate::Env) -> Self {
            self.$field.set_env(env);
            self
        }

        /// Uses `config` as the function configuration instead of reading it from the
        /// environment.
        pub fn function_config(mut self, config: $crate::FunctionConfig) -> Self {
            self.$field.set_function_config(config);
            self
        }

        /// Sets the service name. Default: the function configuration's, which is
        /// `POWERTOOLS_SERVICE_NAME`, else `service_undefined`. An empty name is refused by
        /// `build()`.
        pub fn service_name(mut self, name: impl Into<String>) -> Self {
            self.$field.set_service_name(name);
            self
        }

        /// Reads the time from `clock` instead of the system clock (tests:
        /// `powertools_testing::ManualClock`).
        pub fn clock(mut self, clock: $crate::Clock) -> Self {
            self.$field.set_clock(clock);
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_function_config_is_used_and_the_explicit_name_wins() {
        let base = FunctionConfig::builder()
            .env(Env::from_pairs([("AWS_LAMBDA_FUNCTION_NAME", "fn")]))
            .service_name("from-config")
            .build();
        let mut common = CommonConfig::default();
        common.set_env(Env::from_pairs([("POWERTOOLS_SERVICE_NAME", "from-env")]));
        if let Ok(base) = base {
            common.set_function_config(base);
        }
        let resolved = common.resolve();
        assert_eq!(
            resolved.as_ref().map(|c| c.service_name().to_owned()).ok(),
            Some("from-config".to_owned())
        );
        common.set_service_name("explicit");
        let resolved = common.resolve();
        assert_eq!(
            resolved.as_ref().map(|c| c.service_name()).ok(),
            Some("explicit")
        );
        assert_eq!(
            resolved
                .as_ref()
                .ok()
                .and_then(|c| c.function_config().function_name()),
            Some("fn")
        );
    }
}
