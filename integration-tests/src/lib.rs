//! Helpers shared by the end-to-end tests.
//!
//! The AWS tests talk to local servers that the project's test command (`scripts/test`) starts
//! and announces through `AWS_ENDPOINT_URL_<SERVICE>`: DynamoDB Local for DynamoDB, moto for SSM
//! and Secrets Manager. They fail (never skip) when the endpoint is missing.

use aws_config::SdkConfig;

/// The endpoint a local server was announced at, or an error that says how to get one.
pub fn local_endpoint(variable: &str) -> Result<String, String> {
    match std::env::var(variable) {
        Ok(url) if url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") => {
            Ok(url)
        }
        Ok(url) => Err(format!(
            "{variable}={url} is not a local server: these tests only talk to servers on this machine"
        )),
        Err(_) => Err(format!(
            "{variable} is not set: run the tests with `scripts/test`, which starts DynamoDB Local and moto and exports their endpoints"
        )),
    }
}

/// An SDK configuration as a user's function would build it (one HTTPS-capable client, which
/// also speaks plain HTTP to the local servers), with credentials, region and endpoints from
/// the environment.
pub async fn sdk_config() -> SdkConfig {
    powertools_testing::dynamodb::sdk_config().await
}

/// Creates an on-demand table with a string partition key `id` (in DynamoDB Local).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    powertools_testing::dynamodb::create_table(client, table, "id", None).await?;
    Ok(())
}

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
