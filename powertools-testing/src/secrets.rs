//! Secrets Manager on a local server (moto) for tests: a client and seeding.

use crate::HarnessError;

/// A Secrets Manager client for the local server `AWS_ENDPOINT_URL_SECRETS_MANAGER` points at
/// (refused otherwise).
pub async fn local_client() -> Result<aws_sdk_secretsmanager::Client, HarnessError> {
    let config = crate::aws::local_sdk_config(&["AWS_ENDPOINT_URL_SECRETS_MANAGER"]).await?;
    Ok(aws_sdk_secretsmanager::Client::new(&config))
}

/// Creates the secret `name` holding the text `value` (a JSON document for key/value secrets).
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<(), HarnessError> {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| {
            HarnessError::InvalidDocument(format!(
                "creating secret {name}: {}",
                e.into_service_error()
            ))
        })?;
    Ok(())
}
