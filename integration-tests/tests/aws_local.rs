//! Real AWS SDK calls against the local servers `scripts/test` starts: DynamoDB Local (Amazon's
//! own implementation) and moto's SSM. A missing endpoint fails the test with instructions.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::types::ParameterType;
use integration_tests::{local_endpoint, sdk_config};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{nanos}")
}

#[tokio::test]
async fn dynamodb_local_round_trip_with_a_conditional_write() -> TestResult {
    local_endpoint("AWS_ENDPOINT_URL_DYNAMODB")?;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = unique("powertools-smoke");
    integration_tests::create_table(&client, &table).await?;

    let put = |status: &'static str| {
        client
            .put_item()
            .table_name(&table)
            .item("id", AttributeValue::S("orders#abc".into()))
            .item("status", AttributeValue::S(status.into()))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "id")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
    };
    put("INPROGRESS").send().await?;

    // The second claim fails its condition and brings the old item back with the error.
    let err = put("COMPLETED")
        .send()
        .await
        .err()
        .ok_or("second conditional put succeeded")?;
    let service_error = err.into_service_error();
    let old_item = match &service_error {
        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => {
            e.item().cloned()
        }
        other => {
            return Err(format!("expected ConditionalCheckFailedException, got {other:?}").into());
        }
    };
    assert_eq!(
        old_item.and_then(|i| i.get("status").cloned()),
        Some(AttributeValue::S("INPROGRESS".into()))
    );

    let got = client
        .get_item()
        .table_name(&table)
        .key("id", AttributeValue::S("orders#abc".into()))
        .consistent_read(true)
        .send()
        .await?;
    assert_eq!(
        got.item().and_then(|i| i.get("status")),
        Some(&AttributeValue::S("INPROGRESS".into()))
    );
    client.delete_table().table_name(&table).send().await?;
    Ok(())
}

#[tokio::test]
async fn ssm_parameters_through_moto() -> TestResult {
    local_endpoint("AWS_ENDPOINT_URL_SSM")?;
    let client = aws_sdk_ssm::Client::new(&sdk_config().await);
    let name = format!("/{}/feature-flags", unique("powertools"));
    client
        .put_parameter()
        .name(&name)
        .value(r#"{"new_checkout":true}"#)
        .r#type(ParameterType::String)
        .send()
        .await?;
    let got = client.get_parameter().name(&name).send().await?;
    assert_eq!(
        got.parameter().and_then(|p| p.value()),
        Some(r#"{"new_checkout":true}"#)
    );

    let missing = client
        .get_parameter()
        .name(format!("{name}/missing"))
        .send()
        .await
        .err()
        .ok_or("a missing parameter was found")?;
    assert!(
        missing.into_service_error().is_parameter_not_found(),
        "a missing parameter is ParameterNotFound"
    );
    Ok(())
}

#[test]
fn missing_endpoint_is_reported_with_instructions() {
    let message = local_endpoint("AWS_ENDPOINT_URL_NOT_A_SERVICE")
        .err()
        .unwrap_or_default();
    assert!(message.contains("scripts/test"), "{message}");
}
