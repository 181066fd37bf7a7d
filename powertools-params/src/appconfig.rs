//! AppConfig (the AppConfigData API).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_sdk_appconfigdata::Client;
use powertools_core::{BoxFuture, Clock};

use crate::aws::sdk_error;
use crate::error::ParameterError;
use crate::provider::Provider;
use crate::value::RawValue;

/// AppConfig tokens expire after 24 hours.
const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
struct Session {
    token: String,
    started: SystemTime,
    last: Option<Vec<u8>>,
}

/// Configuration profiles (feature flags, settings) from AppConfig: the name is the profile.
/// One session per profile: `StartConfigurationSession` once, then `GetLatestConfiguration` with
/// the stored token; an empty body means "unchanged" and returns the last value; a session older
/// than 24 hours is replaced. IAM: `appconfig:StartConfigurationSession`,
/// `appconfig:GetLatestConfiguration`.
///
/// ```no_run
/// use powertools_params::{AppConfigProvider, Parameters};
///
/// #[derive(serde::Deserialize)]
/// struct Flags {
///     new_checkout: bool,
/// }
///
/// // sdk_config: what `aws_config::load_defaults(..)` returns, once at INIT
/// # async fn example(sdk_config: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let provider = AppConfigProvider::from_sdk_config(&sdk_config, "orders", "prod");
/// let config = Parameters::builder(provider).build()?;
/// let flags: Flags = config.get_json("feature-flags").await?; // the profile's name
/// # Ok(()) }
/// ```
pub struct AppConfigProvider {
    client: Client,
    application: String,
    environment: String,
    sessions: Mutex<HashMap<String, Session>>,
    clock: Clock,
}

impl std::fmt::Debug for AppConfigProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfigProvider")
            .field("application", &self.application)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl AppConfigProvider {
    /// A provider for one application and environment, with a client made from the shared AWS
    /// configuration (what `aws_config::load_defaults` returns).
    pub fn from_sdk_config(
        config: &aws_types::SdkConfig,
        application: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        Self::new(Client::new(config), application, environment)
    }

    /// A provider for one application and environment.
    pub fn new(
        client: Client,
        application: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        Self {
            client,
            application: application.into(),
            environment: environment.into(),
            sessions: Mutex::new(HashMap::new()),
            clock: Clock::system(),
        }
    }

    /// Reads the time from `clock` instead of the system clock (tests:
    /// `powertools_testing::ManualClock`).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    async fn start_session(&self, profile: &str) -> Result<String, ParameterError> {
        let output = self
            .client
            .start_configuration_session()
            .application_identifier(&self.application)
            .environment_identifier(&self.environment)
            .configuration_profile_identifier(profile)
            .send()
            .await
            .map_err(sdk_error(profile))?;
        output
            .initial_configuration_token()
            .map(str::to_owned)
            .ok_or_else(|| ParameterError::not_found(profile))
    }
}

impl Provider for AppConfigProvider {
    fn get<'a>(&'a self, profile: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let existing = self
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(profile)
                .cloned()
                .filter(|s| {
                    now.duration_since(s.started)
                        .map_or(true, |age| age < SESSION_LIFETIME)
                });
            let mut session = match existing {
                Some(session) => session,
                None => Session {
                    token: self.start_session(profile).await?,
                    started: now,
                    last: self
                        .sessions
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get(profile)
                        .and_then(|s| s.last.clone()),
                },
            };
            let output = self
                .client
                .get_latest_configuration()
                .configuration_token(&session.token)
                .send()
                .await
                .map_err(sdk_error(profile))?;
            if let Some(next) = output.next_poll_configuration_token() {
                session.token = next.to_owned();
            }
            let body = output
                .configuration()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default();
            if !body.is_empty() {
                session.last = Some(body);
            }
            let value = session.last.clone();
            self.sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(profile.to_owned(), session);
            match value {
                Some(bytes) => Ok(match String::from_utf8(bytes) {
                    Ok(text) => RawValue::Text(text),
                    Err(e) => RawValue::Binary(e.into_bytes()),
                }),
                None => Err(ParameterError::not_found(profile)),
            }
        })
    }
}
