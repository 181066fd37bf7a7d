//! Secrets Manager.

use aws_sdk_secretsmanager::Client;
use powertools_core::BoxFuture;

use crate::aws::sdk_error;
use crate::error::ParameterError;
use crate::provider::Provider;
use crate::value::RawValue;

/// Secrets from Secrets Manager (`SecretString` as text, `SecretBinary` as bytes). IAM:
/// `secretsmanager:GetSecretValue` (and `kms:Decrypt` with a customer managed key).
///
/// ```no_run
/// use powertools_params::{Parameters, SecretsProvider};
///
/// #[derive(serde::Deserialize)]
/// struct Db {
///     user: String,
///     password: String,
/// }
///
/// // sdk_config: what `aws_config::load_defaults(..)` returns, once at INIT
/// # async fn example(sdk_config: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let secrets = Parameters::builder(SecretsProvider::from_sdk_config(&sdk_config)).build()?;
/// let db = secrets.get_secret_json::<Db>("orders/db").await?; // Debug and Display show no value
/// let (user, password) = (&db.expose().user, &db.expose().password);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SecretsProvider {
    client: Client,
}

impl SecretsProvider {
    /// A provider over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A provider with a client made from the shared AWS configuration (what
    /// `aws_config::load_defaults` returns).
    pub fn from_sdk_config(config: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

impl Provider for SecretsProvider {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_secret_value()
                .secret_id(name)
                .send()
                .await
                .map_err(sdk_error(name))?;
            if let Some(text) = output.secret_string() {
                return Ok(RawValue::Text(text.to_owned()));
            }
            output
                .secret_binary()
                .map(|blob| RawValue::Binary(blob.as_ref().to_vec()))
                .ok_or_else(|| ParameterError::not_found(name))
        })
    }
}
