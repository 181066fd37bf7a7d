//! The store conformance suite against the in-memory store and against DynamoDB Local.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use powertools_idempotency::InMemoryStore;

#[tokio::test]
async fn in_memory_store_conforms() {
    common::conformance(&InMemoryStore::new(), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_store_runs_fifty_concurrent_duplicates_once() {
    common::fifty_concurrent_duplicates_run_the_handler_once(InMemoryStore::new(), "memory").await;
}

#[cfg(feature = "dynamodb")]
mod dynamodb {
    use aws_sdk_dynamodb::types::AttributeValue;
    use powertools_idempotency::{DynamoDbStore, Record, Status, Store};

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
        let name = powertools_testing::unique_name("idempotency-conformance");
        table(&client, &name, false).await?;
        super::common::conformance(
            &DynamoDbStore::builder(client.clone(), &name).build(),
            "ddb",
        )
        .await;
        client.delete_table().table_name(&name).send().await?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dynamodb_store_runs_fifty_concurrent_duplicates_once()
    -> Result<(), Box<dyn std::error::Error>> {
        let client = client().await?;
        let name = powertools_testing::unique_name("idempotency-concurrent");
        table(&client, &name, false).await?;
        super::common::fifty_concurrent_duplicates_run_the_handler_once(
            DynamoDbStore::builder(client.clone(), &name).build(),
            "ddb",
        )
        .await;
        client.delete_table().table_name(&name).send().await?;
        Ok(())
    }

    #[tokio::test]
    async fn composite_key_table_conforms() -> Result<(), Box<dyn std::error::Error>> {
        let client = client().await?;
        let name = powertools_testing::unique_name("idempotency-composite");
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

    /// Every attribute renamed: the suite passes, and the items carry only the custom names.
    #[tokio::test]
    async fn custom_attribute_names_conform() -> Result<(), Box<dyn std::error::Error>> {
        let client = client().await?;
        let name = powertools_testing::unique_name("idempotency-custom-names");
        powertools_testing::dynamodb::create_table(&client, &name, "pk", None).await?;
        let store = DynamoDbStore::builder(client.clone(), &name)
            .key_attr("pk")
            .expiry_attr("ttl")
            .in_progress_expiry_attr("lease_ms")
            .status_attr("state")
            .data_attr("response")
            .validation_attr("payload_hash")
            .build();
        super::common::conformance(&store, "custom").await;
        let custom = ["pk", "ttl", "lease_ms", "state", "response", "payload_hash"];
        let items = client.scan().table_name(&name).send().await?;
        assert!(!items.items().is_empty());
        for item in items.items() {
            for attribute in item.keys() {
                assert!(
                    custom.contains(&attribute.as_str()),
                    "{attribute} in {item:?}"
                );
            }
            for required in ["pk", "ttl", "state"] {
                assert!(
                    item.contains_key(required),
                    "{required} missing in {item:?}"
                );
            }
        }
        // A completed record with validation: every attribute, each under its custom name.
        let claim = super::common::claim("custom.final#k", super::common::NOW_MS, 30_000);
        store
            .put_if_absent_or_expired(&claim, super::common::NOW_MS)
            .await?;
        let completed = Record {
            status: Status::Completed,
            data: Some("{\"ok\":true}".to_owned()),
            format: powertools_idempotency::RecordFormat::Python,
            ..claim
        };
        store.update(&completed).await?;
        assert_eq!(store.get("custom.final#k").await?, Some(completed));
        let item = client
            .get_item()
            .table_name(&name)
            .key("pk", AttributeValue::S("custom.final#k".to_owned()))
            .send()
            .await?;
        let mut names: Vec<&str> = item
            .item()
            .map(|i| i.keys().map(String::as_str).collect())
            .expect("the item");
        names.sort_unstable();
        assert_eq!(
            names,
            ["lease_ms", "payload_hash", "pk", "response", "state", "ttl"]
        );
        client.delete_table().table_name(&name).send().await?;
        Ok(())
    }
}
