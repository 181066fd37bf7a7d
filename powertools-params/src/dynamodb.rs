//! DynamoDB as a parameter store.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use powertools_core::BoxFuture;

use crate::aws::sdk_error;
use crate::error::ParameterError;
use crate::provider::Provider;
use crate::value::RawValue;

/// Values in a DynamoDB table: one value per `id` (`value` attribute), or many under one `id`
/// (sort key `sk`). IAM: `dynamodb:GetItem` (one value) and `dynamodb:Query` (many).
///
/// ```no_run
/// use powertools_params::{DynamoDbProvider, Parameters};
///
/// // sdk_config: what `aws_config::load_defaults(..)` returns, once at INIT
/// # async fn example(sdk_config: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let provider = DynamoDbProvider::from_sdk_config(&sdk_config, "app-config");
/// let parameters = Parameters::builder(provider).build()?;
/// let limit: u32 = parameters.get_json("orders-limit").await?; // item id = "orders-limit"
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DynamoDbProvider {
    client: Client,
    table: String,
    key_attr: String,
    sort_attr: String,
    value_attr: String,
}

impl DynamoDbProvider {
    /// A provider over `table`, with a client made from the shared AWS configuration (what
    /// `aws_config::load_defaults` returns).
    pub fn from_sdk_config(config: &aws_types::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// A provider over `table` with attributes `id`, `sk` and `value`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            key_attr: "id".into(),
            sort_attr: "sk".into(),
            value_attr: "value".into(),
        }
    }

    /// Other attribute names.
    #[must_use]
    pub fn attributes(mut self, key: &str, sort: &str, value: &str) -> Self {
        self.key_attr = key.to_owned();
        self.sort_attr = sort.to_owned();
        self.value_attr = value.to_owned();
        self
    }

    fn value(
        &self,
        name: &str,
        item: &std::collections::HashMap<String, AttributeValue>,
    ) -> Result<RawValue, ParameterError> {
        match item.get(&self.value_attr) {
            Some(AttributeValue::S(s)) => Ok(RawValue::Text(s.clone())),
            Some(AttributeValue::B(b)) => Ok(RawValue::Binary(b.as_ref().to_vec())),
            Some(AttributeValue::N(n)) => Ok(RawValue::Text(n.clone())),
            _ => Err(ParameterError::transform(
                name,
                "a string, number or binary value",
                format!(
                    "attribute {:?} is missing or of another type",
                    self.value_attr
                ),
            )),
        }
    }
}

impl Provider for DynamoDbProvider {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RawValue, ParameterError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(&self.key_attr, AttributeValue::S(name.to_owned()))
                .send()
                .await
                .map_err(sdk_error(name))?;
            match output.item() {
                Some(item) => self.value(name, item),
                None => Err(ParameterError::not_found(name)),
            }
        })
    }

    fn get_multiple<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, RawValue)>, ParameterError>> {
        Box::pin(async move {
            let mut values = Vec::new();
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#id = :id")
                    .expression_attribute_names("#id", &self.key_attr)
                    .expression_attribute_values(":id", AttributeValue::S(path.to_owned()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk_error(path))?;
                for item in output.items() {
                    if let Some(AttributeValue::S(sort)) = item.get(&self.sort_attr) {
                        values.push((sort.clone(), self.value(sort, item)?));
                    }
                }
                match output.last_evaluated_key() {
                    Some(key) if !key.is_empty() => start = Some(key.clone()),
                    _ => break,
                }
            }
            Ok(values)
        })
    }
}
