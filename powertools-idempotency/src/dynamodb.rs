//! The DynamoDB store: the records of Powertools for Python, one conditional write per claim.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use powertools_core::{CommonConfig, Env, FunctionConfig};

use powertools_core::BoxFuture;

use crate::record::{PutOutcome, Record, RecordFormat, Status, Store, StoreError};

/// Attribute names (defaults as in Powertools for Python).
#[derive(Debug, Clone)]
struct Attributes {
    key: String,
    sort_key: Option<String>,
    static_partition_value: String,
    expiry: String,
    in_progress_expiry: String,
    status: String,
    data: String,
    validation: String,
}

/// Idempotency records in a DynamoDB table: partition key `id` (S), TTL attribute
/// `expiration`. Needs `dynamodb:PutItem`, `GetItem`, `UpdateItem` and `DeleteItem` on the
/// table.
///
/// ```no_run
/// # async fn example() {
/// let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
/// let store = powertools_idempotency::DynamoDbStore::builder(
///     aws_sdk_dynamodb::Client::new(&sdk_config),
///     "IdempotencyTable",
/// )
/// .build();
/// # let _ = store; }
/// ```
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    attributes: Attributes,
}

/// Builds a [`DynamoDbStore`].
#[derive(Debug)]
#[must_use]
pub struct DynamoDbStoreBuilder {
    store: DynamoDbStore,
    static_partition_value: Option<String>,
    common: CommonConfig,
}

impl DynamoDbStore {
    /// A store over `table` with the default attribute names.
    pub fn builder(client: Client, table: impl Into<String>) -> DynamoDbStoreBuilder {
        DynamoDbStoreBuilder {
            static_partition_value: None,
            common: CommonConfig::default(),
            store: DynamoDbStore {
                client,
                table: table.into(),
                attributes: Attributes {
                    key: "id".into(),
                    sort_key: None,
                    static_partition_value: String::new(),
                    expiry: "expiration".into(),
                    in_progress_expiry: "in_progress_expiration".into(),
                    status: "status".into(),
                    data: "data".into(),
                    validation: "validation".into(),
                },
            },
        }
    }
}

impl DynamoDbStoreBuilder {
    /// The partition key attribute (default `id`).
    pub fn key_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.key = name.into();
        self
    }

    /// Uses a composite-key table: the partition key holds `partition_value` (default
    /// `idempotency#<function name>`) and this sort key attribute holds `<prefix>#<hash>`.
    pub fn sort_key_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.sort_key = Some(name.into());
        self
    }

    /// The partition key value of a composite-key table (default
    /// `idempotency#<AWS_LAMBDA_FUNCTION_NAME>`).
    pub fn static_partition_value(mut self, value: impl Into<String>) -> Self {
        self.static_partition_value = Some(value.into());
        self
    }

    /// Reads the function name for the default partition value from `env` (tests; default: the
    /// process environment).
    pub fn env(mut self, env: Env) -> Self {
        self.common.set_env(env);
        self
    }

    /// Takes the function name for the default partition value from `config` instead of the
    /// environment (the same configuration the engine is given, say).
    pub fn function_config(mut self, config: FunctionConfig) -> Self {
        self.common.set_function_config(config);
        self
    }

    /// The expiry (TTL) attribute (default `expiration`).
    pub fn expiry_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.expiry = name.into();
        self
    }

    /// The in-progress expiry attribute (default `in_progress_expiration`).
    pub fn in_progress_expiry_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.in_progress_expiry = name.into();
        self
    }

    /// The status attribute (default `status`).
    pub fn status_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.status = name.into();
        self
    }

    /// The response attribute (default `data`).
    pub fn data_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.data = name.into();
        self
    }

    /// The validation hash attribute (default `validation`).
    pub fn validation_attr(mut self, name: impl Into<String>) -> Self {
        self.store.attributes.validation = name.into();
        self
    }

    /// Builds the store (no request is made).
    pub fn build(mut self) -> DynamoDbStore {
        let common = &self.common;
        self.store.attributes.static_partition_value =
            self.static_partition_value.unwrap_or_else(|| {
                // Resolving fails only on an explicit service name, which this builder never
                // sets.
                let common = common.resolve().ok();
                let function_name = common
                    .as_ref()
                    .and_then(|common| common.function_config().function_name());
                format!("idempotency#{}", function_name.unwrap_or_default())
            });
        self.store
    }
}

fn backend<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
    StoreError::Backend(Box::new(error))
}

impl DynamoDbStore {
    fn key(&self, key: &str) -> HashMap<String, AttributeValue> {
        let a = &self.attributes;
        match &a.sort_key {
            Some(sort_key) => HashMap::from([
                (
                    a.key.clone(),
                    AttributeValue::S(a.static_partition_value.clone()),
                ),
                (sort_key.clone(), AttributeValue::S(key.to_owned())),
            ]),
            None => HashMap::from([(a.key.clone(), AttributeValue::S(key.to_owned()))]),
        }
    }

    /// The attribute holding `<prefix>#<hash>`.
    fn key_attribute(&self) -> &str {
        self.attributes
            .sort_key
            .as_deref()
            .unwrap_or(&self.attributes.key)
    }

    fn item(&self, record: &Record) -> HashMap<String, AttributeValue> {
        let a = &self.attributes;
        let mut item = self.key(&record.key);
        item.insert(
            a.status.clone(),
            AttributeValue::S(record.status.as_str().to_owned()),
        );
        item.insert(
            a.expiry.clone(),
            AttributeValue::N(record.expiration.to_string()),
        );
        if let Some(deadline) = record.in_progress_expiration {
            item.insert(
                a.in_progress_expiry.clone(),
                AttributeValue::N(deadline.to_string()),
            );
        }
        if record.data.is_some() {
            item.insert(a.data.clone(), data_value(record));
        }
        if let Some(validation) = &record.validation {
            item.insert(a.validation.clone(), AttributeValue::S(validation.clone()));
        }
        item
    }

    fn record(&self, item: &HashMap<String, AttributeValue>) -> Result<Record, StoreError> {
        let a = &self.attributes;
        let string = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<f64>().ok())
                .map(|n| n as u64)
        };
        let key = string(self.key_attribute()).unwrap_or_default();
        let malformed = |reason: &str| StoreError::Malformed {
            key: key.clone(),
            reason: reason.to_owned(),
        };
        let status = string(&a.status)
            .as_deref()
            .and_then(Status::parse)
            .ok_or_else(|| malformed("status is not INPROGRESS or COMPLETED"))?;
        // A string is JSON text (Python) or a string response (TypeScript): the engine knows
        // which. Any other type is a native value (TypeScript).
        let (data, format) = match item.get(&a.data) {
            None => (None, RecordFormat::Python),
            Some(AttributeValue::S(text)) => (Some(text.clone()), RecordFormat::Python),
            Some(value) => (
                Some(
                    native_to_json(value, 0)
                        .map_err(|e| malformed(&e))?
                        .to_string(),
                ),
                RecordFormat::TypeScript,
            ),
        };
        Ok(Record {
            key: key.clone(),
            status,
            expiration: number(&a.expiry)
                .ok_or_else(|| malformed("expiration is missing or not a number"))?,
            in_progress_expiration: number(&a.in_progress_expiry),
            data,
            format,
            validation: string(&a.validation),
        })
    }
}

/// A record's `data` as the attribute it is stored as: its text as a string (Python's form),
/// or the value in native types (TypeScript's).
fn data_value(record: &Record) -> AttributeValue {
    let text = record.data.as_deref().unwrap_or("null");
    match record.format {
        RecordFormat::TypeScript => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => json_to_native(&value),
            // Not JSON (cannot come from the engine): kept as the text it is.
            Err(_) => AttributeValue::S(text.to_owned()),
        },
        _ => AttributeValue::S(text.to_owned()),
    }
}

/// A JSON value in DynamoDB's native types, as `marshall` writes it.
fn json_to_native(value: &serde_json::Value) -> AttributeValue {
    use serde_json::Value;
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(json_to_native).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_native(v)))
                .collect(),
        ),
    }
}

/// DynamoDB nests documents at most 32 levels deep; deeper is not a document it returned.
const MAX_NATIVE_DEPTH: usize = 64;

/// A native DynamoDB value as JSON, as `unmarshall` reads it; sets and binaries are not JSON.
fn native_to_json(value: &AttributeValue, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    if depth > MAX_NATIVE_DEPTH {
        return Err("data is nested too deeply".to_owned());
    }
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => serde_json::from_str::<serde_json::Number>(n)
            .map(Value::Number)
            .map_err(|_| "data holds a number JSON cannot represent".to_owned())?,
        AttributeValue::L(items) => Value::Array(
            items
                .iter()
                .map(|item| native_to_json(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), native_to_json(v, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        _ => return Err("data is a set or binary value, not a JSON response".to_owned()),
    })
}

impl Store for DynamoDbStore {
    fn put_if_absent_or_expired<'a>(
        &'a self,
        record: &'a Record,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        Box::pin(async move {
            let a = &self.attributes;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.item(record)))
                .condition_expression(
                    "attribute_not_exists(#id) OR #expiry < :now OR \
                     (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)",
                )
                .expression_attribute_names("#id", self.key_attribute())
                .expression_attribute_names("#expiry", &a.expiry)
                .expression_attribute_names("#status", &a.status)
                .expression_attribute_names("#in_progress_expiry", &a.in_progress_expiry)
                .expression_attribute_values(":now", AttributeValue::N(Record::epoch_seconds(now_ms).to_string()))
                .expression_attribute_values(":now_in_millis", AttributeValue::N(now_ms.to_string()))
                .expression_attribute_values(":inprogress", AttributeValue::S(Status::InProgress.as_str().to_owned()))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match result {
                Ok(_) => Ok(PutOutcome::Claimed),
                Err(error) => match error.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(refused) => {
                        match refused.item() {
                            Some(item) => Ok(PutOutcome::Exists(self.record(item)?)),
                            None => Err(StoreError::Malformed {
                                key: record.key.clone(),
                                reason: "the claim was refused but no existing item came back"
                                    .to_owned(),
                            }),
                        }
                    }
                    other => Err(backend(other)),
                },
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(self.key(key)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| backend(e.into_service_error()))?;
            output.item().map(|item| self.record(item)).transpose()
        })
    }

    fn update<'a>(&'a self, record: &'a Record) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let a = &self.attributes;
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(&record.key)))
                .expression_attribute_names("#data", &a.data)
                .expression_attribute_names("#expiry", &a.expiry)
                .expression_attribute_names("#status", &a.status)
                .expression_attribute_values(":data", data_value(record))
                .expression_attribute_values(
                    ":expiry",
                    AttributeValue::N(record.expiration.to_string()),
                )
                .expression_attribute_values(
                    ":status",
                    AttributeValue::S(record.status.as_str().to_owned()),
                );
            let mut expression =
                "SET #data = :data, #expiry = :expiry, #status = :status".to_owned();
            if let Some(validation) = &record.validation {
                expression.push_str(", #validation = :validation");
                request = request
                    .expression_attribute_names("#validation", &a.validation)
                    .expression_attribute_values(
                        ":validation",
                        AttributeValue::S(validation.clone()),
                    );
            }
            request
                .update_expression(expression)
                .send()
                .await
                .map_err(|e| backend(e.into_service_error()))?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(self.key(key)))
                .send()
                .await
                .map_err(|e| backend(e.into_service_error()))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A response written in native form reads back as the same JSON value.
        #[test]
        fn native_values_round_trip(value in json_value()) {
            let native = json_to_native(&value);
            prop_assert_eq!(native_to_json(&native, 0).unwrap(), value);
        }
    }

    #[test]
    fn sets_binaries_and_unreadable_numbers_are_not_responses() {
        let set = AttributeValue::Ss(vec!["a".into()]);
        assert!(native_to_json(&set, 0).is_err());
        assert!(native_to_json(&AttributeValue::N("1e999".into()), 0).is_err());
        let mut deep = AttributeValue::Null(true);
        for _ in 0..100 {
            deep = AttributeValue::L(vec![deep]);
        }
        assert_eq!(
            native_to_json(&deep, 0).unwrap_err(),
            "data is nested too deeply"
        );
    }
}
