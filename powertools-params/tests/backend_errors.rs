//! Backend errors show no value either: an SDK error keeps the raw HTTP response (its `Debug`
//! prints the body), and a service's message may quote the value sent. A fake server answers
//! the real SDK clients with such responses.
#![cfg(all(feature = "ssm", feature = "secrets"))]

use std::error::Error as _;

use powertools_core::Env;
use powertools_params::{ParameterError, Parameters, SecretsProvider, SsmProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server answering every request with `status` and the JSON `body`.
async fn fake_server(status: &'static str, body: impl Into<String>) -> std::io::Result<String> {
    let body: String = body.into();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let head_end = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break pos + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
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

fn everything_shown(error: &ParameterError) -> String {
    let mut shown = format!("{error}\n{error:?}\n");
    let mut source = error.source();
    while let Some(inner) = source {
        shown.push_str(&format!("{inner}\n{inner:?}\n"));
        source = inner.source();
    }
    shown
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
        .build();
    let error = parameters.get("payments/api-key").await.err();
    let shown = error.as_ref().map(everything_shown).unwrap_or_default();
    assert!(
        matches!(error, Some(ParameterError::Backend { .. })),
        "{shown}"
    );
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
    let json = serde_json::to_string(value).unwrap_or_default();
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
        let error = provider.set("/db/password", value).await.err();
        let shown = error.as_ref().map(everything_shown).unwrap_or_default();
        assert!(
            matches!(error, Some(ParameterError::Backend { .. })),
            "{shown}"
        );
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
            .build();
    let error = parameters.get("/orders/flag").await.err();
    let shown = error.as_ref().map(everything_shown).unwrap_or_default();
    assert!(
        matches!(error, Some(ParameterError::Backend { .. })),
        "{shown}"
    );
    assert!(
        shown.contains("ThrottlingException") && shown.contains("Rate exceeded"),
        "{shown}"
    );
    Ok(())
}
