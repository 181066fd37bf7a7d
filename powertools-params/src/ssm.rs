//! SSM Parameter Store.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;
use powertools_core::{BoxFuture, Env};

use crate::aws::{sdk_error, sdk_error_for_each, sending_error};
use crate::error::ParameterError;
use crate::provider::{Provider, relative_to, sorted_by_name};
use crate::value::RawValue;

/// Parameters from SSM Parameter Store. IAM: `ssm:GetParameter`, `ssm:GetParameters`,
/// `ssm:GetParametersByPath` (and `kms:Decrypt` for SecureString with decryption;
/// `ssm:PutParameter` for [`SsmProvider::set`]).
///
/// ```no_run
/// use powertools_params::{GetOptions, Parameters, SsmProvider};
///
/// // sdk_config: what `aws_config::load_defaults(..)` returns, once at INIT
/// # async fn example(sdk_config: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let parameters = Parameters::builder(SsmProvider::from_sdk_config(&sdk_config)).build()?;
/// let table = parameters.get("/orders/table-name").await?;
/// // Every parameter under a path, by name relative to it.
/// let flags = parameters.get_multiple("/orders/flags", GetOptions::new()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SsmProvider {
    client: Client,
    decrypt: bool,
    recursive: bool,
}

impl SsmProvider {
    /// A provider over `client`; decryption from `POWERTOOLS_PARAMETERS_SSM_DECRYPT` (default
    /// off), paths read recursively.
    pub fn new(client: Client) -> Self {
        Self::with_env(client, &Env::from_env())
    }

    /// A provider with a client made from the shared AWS configuration (what
    /// `aws_config::load_defaults` returns).
    pub fn from_sdk_config(config: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// Like [`SsmProvider::new`], reading `env`.
    pub fn with_env(client: Client, env: &Env) -> Self {
        Self {
            client,
            decrypt: env
                .bool("POWERTOOLS_PARAMETERS_SSM_DECRYPT")
                .unwrap_or(false),
            recursive: true,
        }
    }

    /// Decrypts SecureString parameters.
    #[must_use]
    pub fn decrypt(mut self, on: bool) -> Self {
        self.decrypt = on;
        self
    }

    /// Whether SecureString parameters are decrypted.
    pub fn decrypts(&self) -> bool {
        self.decrypt
    }

    /// Reads paths recursively (default) or one level only.
    #[must_use]
    pub fn recursive(mut self, on: bool) -> Self {
        self.recursive = on;
        self
    }

    /// Several parameters by name, in chunks of 10 (the API's limit), each with its own result.
    pub async fn get_parameters(
        &self,
        names: &[&str],
    ) -> Vec<(String, Result<RawValue, ParameterError>)> {
        let mut results = Vec::with_capacity(names.len());
        for chunk in names.chunks(10) {
            let response = self
                .client
                .get_parameters()
                .set_names(Some(chunk.iter().map(|n| (*n).to_owned()).collect()))
                .with_decryption(self.decrypt)
                .send()
                .await;
            match response {
                Ok(output) => {
                    for name in chunk {
                        let found = output
                            .parameters()
                            .iter()
                            .find(|p| p.name() == Some(*name))
                            .and_then(|p| p.value().map(|v| RawValue::Text(v.to_owned())));
                        results.push((
                            (*name).to_owned(),
                            found.ok_or_else(|| ParameterError::not_found(name)),
                        ));
                    }
                }
                Err(error) => results.extend(
                    sdk_error_for_each(chunk.iter().copied(), error)
                        .into_iter()
                        .map(|(name, error)| (name, Err(error))),
                ),
            }
        }
        results
    }

    /// Writes a String parameter (overwriting it). A service error keeps its error code, never
    /// its message (which may quote the value).
    pub async fn set(&self, name: &str, value: &str) -> Result<(), ParameterError> {
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|error| sending_error(name, error))?;
        Ok(())
    }
}

impl Provider for SsmProvider {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_parameter()
                .name(name)
                .with_decryption(self.decrypt)
                .send()
                .await
                .map_err(sdk_error(name))?;
            output
                .parameter()
                .and_then(|p| p.value())
                .map(|v| RawValue::Text(v.to_owned()))
                .ok_or_else(|| ParameterError::not_found(name))
        })
    }

    fn get_multiple<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, RawValue)>, ParameterError>> {
        Box::pin(async move {
            let mut values = Vec::new();
            let mut next: Option<String> = None;
            loop {
                let output = self
                    .client
                    .get_parameters_by_path()
                    .path(path)
                    .recursive(self.recursive)
                    .with_decryption(self.decrypt)
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(sdk_error(path))?;
                for parameter in output.parameters() {
                    if let (Some(name), Some(value)) = (parameter.name(), parameter.value()) {
                        let relative = relative_to(path, name).unwrap_or(name).to_owned();
                        values.push((relative, RawValue::Text(value.to_owned())));
                    }
                }
                match output.next_token() {
                    Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                    _ => break,
                }
            }
            Ok(sorted_by_name(values))
        })
    }
}
