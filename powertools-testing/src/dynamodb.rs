//! DynamoDB Local for tests: a client that refuses to talk to anything but a local server, and
//! a table helper.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

use crate::HarnessError;

fn local(message: String) -> HarnessError {
    HarnessError::InvalidDocument(message)
}

pub use crate::aws::sdk_config;

/// The SDK configuration ([`sdk_config`]); fails unless `AWS_ENDPOINT_URL_DYNAMODB` points at
/// this machine (the project's `scripts/test` sets it).
pub async fn local_sdk_config() -> Result<aws_config::SdkConfig, HarnessError> {
    crate::aws::local_sdk_config(&["AWS_ENDPOINT_URL_DYNAMODB"]).await
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
