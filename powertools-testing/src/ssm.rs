//! SSM Parameter Store on a local server (moto) for tests: a client and seeding.

use aws_sdk_ssm::types::ParameterType;

use crate::HarnessError;

/// An SSM client for the local server `AWS_ENDPOINT_URL_SSM` points at (refused otherwise).
pub async fn local_client() -> Result<aws_sdk_ssm::Client, HarnessError> {
    let config = crate::aws::local_sdk_config(&["AWS_ENDPOINT_URL_SSM"]).await?;
    Ok(aws_sdk_ssm::Client::new(&config))
}

/// Writes `name` = `value` (a `SecureString` when `secure`), overwriting what is there.
pub async fn put_parameter(
    client: &aws_sdk_ssm::Client,
    name: &str,
    value: &str,
    secure: bool,
) -> Result<(), HarnessError> {
    let kind = if secure {
        ParameterType::SecureString
    } else {
        ParameterType::String
    };
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| {
            HarnessError::InvalidDocument(format!(
                "putting parameter {name}: {}",
                e.into_service_error()
            ))
        })?;
    Ok(())
}
