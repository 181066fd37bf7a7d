//! The store conformance suite against the in-memory store and against DynamoDB Local.

mod common;

use powertools_idempotency::InMemoryStore;

#[tokio::test]
async fn in_memory_store_conforms() {
    common::conformance(&InMemoryStore::new(), "memory").await;
}

#[cfg(feature = "dynamodb")]
mod dynamodb {
    use aws_config::BehaviorVersion;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use powertools_idempotency::DynamoDbStore;

    pub(crate) async fn client() -> Result<aws_sdk_dynamodb::Client, String> {
        match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            Ok(url) if url.starts_with("http://127.0.0.1") => {}
            _ => return Err("AWS_ENDPOINT_URL_DYNAMODB is not a local server: run the tests with `scripts/test`, which starts DynamoDB Local".to_owned()),
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await;
        Ok(aws_sdk_dynamodb::Client::new(&config))
    }

    pub(crate) async fn table(
        client: &aws_sdk_dynamodb::Client,
        name: &str,
        sort_key: bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()?,
            );
        if sort_key {
            request = request
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("sk")
                        .attribute_type(ScalarAttributeType::S)
                        .build()?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("sk")
                        .key_type(KeyType::Range)
                        .build()?,
                );
        }
        request.send().await?;
        Ok(())
    }

    #[tokio::test]
    async fn dynamodb_store_conforms() -> Result<(), Box<dyn std::error::Error>> {
        let client = client().await?;
        let name = format!("idempotency-conformance-{}", std::process::id());
        table(&client, &name, false).await?;
        super::common::conformance(
            &DynamoDbStore::builder(client.clone(), &name).build(),
            "ddb",
        )
        .await;
        client.delete_table().table_name(&name).send().await?;
        Ok(())
    }

    #[tokio::test]
    async fn composite_key_table_conforms() -> Result<(), Box<dyn std::error::Error>> {
        let client = client().await?;
        let name = format!("idempotency-composite-{}", std::process::id());
        table(&client, &name, true).await?;
        let store = DynamoDbStore::builder(client.clone(), &name)
            .sort_key_attr("sk")
            .static_partition_value("idempotency#orders")
            .build();
        super::common::conformance(&store, "composite").await;
        // The partition key holds the static value, the sort key the record key.
        let items = client.scan().table_name(&name).send().await?;
        assert!(items.items().iter().all(|i| {
            i.get("id").and_then(|v| v.as_s().ok()).map(String::as_str)
                == Some("idempotency#orders")
        }));
        client.delete_table().table_name(&name).send().await?;
        Ok(())
    }
}
