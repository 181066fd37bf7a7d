//! The deployable binary under the real runtime loop against moto's S3: an uploaded CSV is
//! summarised under `reports/`, its bad rows named by line only; a key with spaces arrives
//! URL-encoded and is decoded; a file that is not an orders CSV, or is over the size limit, fails
//! the invocation without quoting it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use powertools_testing::{InvocationRequest, LocalFunction, emf, events, unique_name};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const S3_PROCESSOR: &str = env!("CARGO_BIN_EXE_s3-processor");

/// A client for moto's S3 (refused unless `AWS_ENDPOINT_URL_S3` is local), path-style as local
/// servers expect, and a new bucket.
async fn bucket() -> Result<(aws_sdk_s3::Client, String), Box<dyn std::error::Error>> {
    let config = powertools_testing::aws::local_sdk_config(&["AWS_ENDPOINT_URL_S3"]).await?;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("order-files").to_ascii_lowercase();
    client.create_bucket().bucket(&bucket).send().await?;
    Ok((client, bucket))
}

async fn upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &str,
) -> Result<Value, Box<dyn std::error::Error>> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await?;
    Ok(events::s3_object_created(bucket, key, body.len() as u64))
}

async fn read_json(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Value, Box<dyn std::error::Error>> {
    let object = client.get_object().bucket(bucket).key(key).send().await?;
    Ok(serde_json::from_slice(
        &object.body.collect().await?.into_bytes(),
    )?)
}

#[tokio::test]
async fn an_uploaded_csv_is_summarised_and_bad_files_fail_without_quoting_them() -> TestResult {
    let (client, bucket) = bucket().await?;
    let function = LocalFunction::builder(S3_PROCESSOR)
        .function_name("s3-processor")
        .env("POWERTOOLS_SERVICE_NAME", "order-files")
        .env("MAX_OBJECT_BYTES", "1000")
        .start()
        .await?;

    // A key with a space and an accent: S3 sends it URL-encoded.
    let key = "incoming/2026/12/orders 03 é.csv";
    let csv = "order_id,sku,quantity\no-1,BOOK-1984,2\no-2,PEN,0\no-3,PEN,10\nsecret-row-7f3a\n";
    let event = upload(&client, &bucket, key, csv).await?;
    assert_eq!(
        event["Records"][0]["s3"]["object"]["key"],
        "incoming/2026/12/orders+03+%C3%A9.csv"
    );
    function
        .invoke(InvocationRequest::json(&event)?)
        .await?
        .json()?;
    let summary = read_json(&client, &bucket, "reports/2026/12/orders 03 é.csv.json").await?;
    assert_eq!(
        summary,
        json!({
            "source": format!("s3://{bucket}/{key}"),
            "rows": 4,
            "accepted": 2,
            "rejected_lines": [3, 5],
            "units_by_sku": {"BOOK-1984": 2, "PEN": 10},
        })
    );

    // Not an orders CSV: an error that names the object, not its contents.
    let event = upload(
        &client,
        &bucket,
        "incoming/notes.csv",
        "secret-header-91c2\n",
    )
    .await?;
    let outcome = function.invoke(InvocationRequest::json(&event)?).await?;
    let error = outcome.error().unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(
        error
            .error_message
            .contains("incoming/notes.csv is not an orders CSV"),
        "{error:?}"
    );

    // Over MAX_OBJECT_BYTES: refused unread.
    let big = format!("order_id,sku,quantity\n{}", "o-9,PEN,1\n".repeat(200));
    let event = upload(&client, &bucket, "incoming/big.csv", &big).await?;
    let outcome = function.invoke(InvocationRequest::json(&event)?).await?;
    let error = outcome.error().unwrap_or_else(|| panic!("{outcome:?}"));
    assert!(
        error.error_message.contains("over MAX_OBJECT_BYTES"),
        "{error:?}"
    );

    // Our own report (a misconfigured trigger) is skipped, not processed again.
    let own = events::s3_object_created(&bucket, "reports/2026/12/orders 03 é.csv.json", 10);
    function
        .invoke(InvocationRequest::json(&own)?)
        .await?
        .json()?;

    let stopped = function.stop().await;
    let processed = stopped.lines_with_message("file processed");
    assert_eq!(processed.len(), 1, "{:#?}", stopped.json_lines());
    assert_eq!(processed[0]["rejected"], 2);
    assert_eq!(
        stopped
            .lines_with_message("skipped: not under incoming/")
            .len(),
        1
    );
    let blobs = emf::blobs_in(&stopped.stdout)?;
    let counted: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("RowsAccepted").is_some())
        .collect();
    assert_eq!(counted.len(), 1, "{blobs:#?}");
    assert_eq!(counted[0]["RowsAccepted"], json!([2.0]));
    assert_eq!(counted[0]["RowsRejected"], json!([2.0]));
    for line in stopped.stdout.iter().chain(&stopped.stderr) {
        for secret in ["secret-row-7f3a", "secret-header-91c2"] {
            assert!(!line.contains(secret), "file contents leaked: {line}");
        }
    }
    Ok(())
}
