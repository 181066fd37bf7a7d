//! Backend errors show no value either: an SDK error keeps the raw HTTP response (its `Debug`
//! prints the body), and a service's message may quote the value sent. A fake server answers
//! the real SDK clients with such responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(all(feature = "ssm", feature = "secrets"))]

mod common;

use common::everything_shown;
use powertools_core::Env;
use powertools_params::{ParameterError, Parameters, SecretsProvider, SsmProvider};

/// A server answering every request with `status` and the JSON `body`.
async fn fake_server(status: &'static str, body: impl Into<String>) -> std::io::Result<String> {
    let body: String = body.into();
    common::serve_http(move |_request_line| {
        common::http_response(
            status,
            &[("content-type", "application/x-amz-json-1.1")],
            &body,
        )
    })
    .await
}

async fn sdk_config() -> aws_config::SdkConfig {
    powertools_testing::dynamodb::sdk_config()
        .await
        .into_builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::SharedCredentialsProvider::new(
            aws_sdk_ssm::config::Credentials::new("testing", "testing", None, None, "test"),
        ))
        .build()
}

/// Clients of the fake at `url` (the client's endpoint beats `AWS_ENDPOINT_URL_*`).
async fn ssm_client(url: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&sdk_config().await)
            .endpoint_url(url)
            .build(),
    )
}

async fn secrets_client(url: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&sdk_config().await)
            .endpoint_url(url)
            .build(),
    )
}

#[tokio::test]
async fn an_unreadable_response_holding_the_secret_shows_no_body()
-> Result<(), Box<dyn std::error::Error>> {
    // A 200 whose body is cut short after the secret: the SDK cannot parse it, and keeps it.
    let url = fake_server(
        "200 OK",
        r#"{"Name":"payments/api-key","SecretString":"sk_live_hunter2","VersionId":"#,
    )
    .await?;
    let client = secrets_client(&url).await;
    let parameters = Parameters::builder(SecretsProvider::new(client))
        .env(Env::from_lookup(|_| None))
        .build()?;
    let error = parameters.get("payments/api-key").await.unwrap_err();
    let shown = everything_shown(&error);
    assert!(matches!(error, ParameterError::Backend { .. }), "{shown}");
    assert!(!shown.contains("sk_live_hunter2"), "{shown}");
    assert!(
        shown.contains("payments/api-key"),
        "names the secret: {shown}"
    );
    Ok(())
}

/// The forms a value may take in error text: as it is, escaped by `Debug` (`ErrorMetadata`
/// escapes quotes, backslashes and control characters), and escaped as in JSON.
fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    vec![
        value.to_owned(),
        value.escape_debug().to_string(),
        value.escape_default().to_string(),
        json.trim_matches('"').to_owned(),
    ]
}

#[tokio::test]
async fn a_service_message_quoting_the_value_set_is_withheld()
-> Result<(), Box<dyn std::error::Error>> {
    for value in [
        "db-pa55-w0rd",
        r#"{"password":"x-hunter2"}"#,
        r#"pa"ss-hunter2"#,
        r"C:\secrets\hunter2",
        "line-one-hunter2\nline-two\ttab",
    ] {
        // What SSM answers to a PutParameter it refuses: the value quoted in the message.
        let body = serde_json::json!({
            "__type": "ValidationException",
            "message": format!(
                "1 validation error detected: Value '{value}' at 'value' failed to satisfy constraint"
            ),
        });
        let url = fake_server("400 Bad Request", body.to_string()).await?;
        let client = ssm_client(&url).await;
        let provider = SsmProvider::with_env(client, &Env::from_lookup(|_| None));
        let error = provider.set("/db/password", value).await.unwrap_err();
        let shown = everything_shown(&error);
        assert!(matches!(error, ParameterError::Backend { .. }), "{shown}");
        for form in forms(value) {
            assert!(!shown.contains(&form), "{form:?} in {shown}");
        }
        assert!(
            shown.contains("/db/password") && shown.contains("ValidationException"),
            "names the parameter and the error code: {shown}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_service_error_keeps_its_code_and_message() -> Result<(), Box<dyn std::error::Error>> {
    let url = fake_server(
        "400 Bad Request",
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    )
    .await?;
    let client = ssm_client(&url).await;
    let parameters =
        Parameters::builder(SsmProvider::with_env(client, &Env::from_lookup(|_| None)))
            .env(Env::from_lookup(|_| None))
            .build()?;
    let error = parameters.get("/orders/flag").await.unwrap_err();
    let shown = everything_shown(&error);
    assert!(matches!(error, ParameterError::Backend { .. }), "{shown}");
    assert!(
        shown.contains("ThrottlingException") && shown.contains("Rate exceeded"),
        "{shown}"
    );
    Ok(())
}
