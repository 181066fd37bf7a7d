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
        Ok(url) if is_local(&url) => Ok(()),
        Ok(url) => Err(HarnessError::InvalidDocument(format!(
            "{variable}={url} is not a local server: tests only talk to servers on this machine"
        ))),
        Err(_) => Err(HarnessError::InvalidDocument(format!(
            "{variable} is not set: start the local servers first (the project's scripts/test starts DynamoDB Local and moto and sets it)"
        ))),
    }
}

/// Whether `url` is `http://` to this machine: host exactly `127.0.0.1`, `localhost` or `[::1]`
/// (not `localhost.example.com`).
fn is_local(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// [`sdk_config`] once every one of `variables` points at this machine
/// (`["AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER"]`).
pub async fn local_sdk_config(variables: &[&str]) -> Result<SdkConfig, HarnessError> {
    for variable in variables {
        require_local(variable)?;
    }
    Ok(sdk_config().await)
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn only_this_machine_is_local() {
        for local in [
            "http://127.0.0.1:8000",
            "http://localhost:4566/",
            "http://[::1]:8000",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "http://localhost.example.com:8000",
            "http://127.0.0.1.nip.io",
            "https://127.0.0.1:8000",
            "http://dynamodb.eu-west-1.amazonaws.com",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
