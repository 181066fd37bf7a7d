//! The store conformance suite against the in-memory store and against DynamoDB Local.

mod common;

use powertools_idempotency::InMemoryStore;

#[tokio::test]
async fn in_memory_store_conforms() {
    common::conformance(&InMemoryStore::new(), "memory").await;
}

#[cfg(feature = "dynamodb")]
mod dynamodb {
    use powertools_idempotency::DynamoDbStore;

    async fn client() -> Result<aws_sdk_dynamodb::Client, powertools_testing::HarnessError> {
        powertools_testing::dynamodb::local_client().await
    }

    async fn table(
        client: &aws_sdk_dynamodb::Client,
        name: &str,
        sort_key: bool,
    ) -> Result<(), powertools_testing::HarnessError> {
        powertools_testing::dynamodb::create_table(client, name, "id", sort_key.then_some("sk"))
            .await
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
