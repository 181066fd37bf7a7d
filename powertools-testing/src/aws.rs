//! The AWS SDK pointed at local servers (DynamoDB Local, moto), for any service: the shared
//! configuration, and a guard that a service's endpoint is on this machine.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::HarnessError;

/// The SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL_*`),
/// with an HTTP client that speaks HTTPS and plain HTTP (local servers speak plain HTTP). No
/// check of where the endpoints point: use [`local_sdk_config`] in tests.
pub async fn sdk_config() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// Fails unless the endpoint variable `variable` (e.g. `AWS_ENDPOINT_URL_SSM`) points at this
/// machine, so that a test never talks to a real AWS account.
pub fn require_local(variable: &str) -> Result<(), HarnessError> {
    match std::env::var(variable) {
        Ok(url) if url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") => {
            Ok(())
        }
        Ok(url) => Err(HarnessError::InvalidDocument(format!(
            "{variable}={url} is not a local server: tests only talk to servers on this machine"
        ))),
        Err(_) => Err(HarnessError::InvalidDocument(format!(
            "{variable} is not set: start the local servers first (the project's scripts/test starts DynamoDB Local and moto and sets it)"
        ))),
    }
}

/// [`sdk_config`] once every one of `variables` points at this machine
/// (`["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER"]`).
pub async fn local_sdk_config(variables: &[&str]) -> Result<SdkConfig, HarnessError> {
    for variable in variables {
        require_local(variable)?;
    }
    Ok(sdk_config().await)
}
