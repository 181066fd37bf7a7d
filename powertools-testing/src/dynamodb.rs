//! DynamoDB Local for tests: a client that refuses to talk to anything but a local server, and
//! a table helper.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::HarnessError;

fn local(message: String) -> HarnessError {
    HarnessError::InvalidDocument(message)
}

/// The SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL_*`),
/// with an HTTP client that also speaks plain HTTP to local servers; fails unless
/// `AWS_ENDPOINT_URL_DYNAMODB` points at this machine (the project's `scripts/test` sets it).
pub async fn local_sdk_config() -> Result<SdkConfig, HarnessError> {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(url) if url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") => {}
        Ok(url) => return Err(local(format!("AWS_ENDPOINT_URL_DYNAMODB={url} is not a local server: tests only talk to servers on this machine"))),
        Err(_) => return Err(local("AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with `scripts/test`, which starts DynamoDB Local".to_owned())),
    }
    Ok(sdk_config().await)
}

/// The SDK configuration from the environment with an HTTP client that speaks HTTPS and plain
/// HTTP (no check of where the endpoints point: for binaries under test).
pub async fn sdk_config() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// A DynamoDB client for DynamoDB Local (see [`local_sdk_config`]).
pub async fn local_client() -> Result<aws_sdk_dynamodb::Client, HarnessError> {
    Ok(aws_sdk_dynamodb::Client::new(&local_sdk_config().await?))
}

/// Creates an on-demand table with string key `partition_key` (and `sort_key`, if given).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    partition_key: &str,
    sort_key: Option<&str>,
) -> Result<(), HarnessError> {
    let fail = |e: &dyn std::fmt::Display| local(format!("creating table {table}: {e}"));
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(partition_key).map_err(|e| fail(&e))?)
        .key_schema(key(partition_key, KeyType::Hash).map_err(|e| fail(&e))?);
    if let Some(sort_key) = sort_key {
        request = request
            .attribute_definitions(attribute(sort_key).map_err(|e| fail(&e))?)
            .key_schema(key(sort_key, KeyType::Range).map_err(|e| fail(&e))?);
    }
    request
        .send()
        .await
        .map_err(|e| fail(&e.into_service_error()))?;
    Ok(())
}
