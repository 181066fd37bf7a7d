//! The AppConfig provider against a fake AppConfigData server speaking the real REST API
//! (`POST /configurationsessions`, `GET /configuration?configuration_token=`).
#![cfg(feature = "appconfig")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use powertools_params::{AppConfigProvider, GetOptions, Parameters, Provider, RawValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct Fake {
    sessions_started: usize,
    issued: HashMap<String, usize>, // token -> how many configurations were served before it
    bodies: Vec<&'static str>,      // what successive polls return ("" = unchanged)
    next: usize,
}

async fn fake_appconfigdata(
    bodies: Vec<&'static str>,
) -> std::io::Result<(String, Arc<Mutex<Fake>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = Arc::new(Mutex::new(Fake {
        bodies,
        ..Fake::default()
    }));
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let state = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    // Read one request (head + body by content-length), answer, repeat.
                    let head_end = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break pos + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let request_line = head.lines().next().unwrap_or_default().to_owned();
                    let reply = {
                        let mut fake = state
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        if request_line.starts_with("POST /configurationsessions") {
                            fake.sessions_started += 1;
                            let token = format!("initial-{}", fake.sessions_started);
                            let served = fake.next;
                            fake.issued.insert(token.clone(), served);
                            let body = format!("{{\"InitialConfigurationToken\":\"{token}\"}}");
                            format!(
                                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            )
                        } else if request_line.starts_with("GET /configuration?") {
                            let token = request_line
                                .split("configuration_token=")
                                .nth(1)
                                .and_then(|t| t.split([' ', '&']).next())
                                .unwrap_or_default()
                                .to_owned();
                            if fake.issued.remove(&token).is_none() {
                                let body = r#"{"Message":"Token is not valid"}"#;
                                format!(
                                    "HTTP/1.1 400 Bad Request\r\nx-amzn-errortype: BadRequestException\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                    body.len()
                                )
                            } else {
                                let index = fake.next;
                                fake.next += 1;
                                let body = fake.bodies.get(index).copied().unwrap_or("");
                                let next_token = format!("next-{index}");
                                fake.issued.insert(next_token.clone(), index + 1);
                                format!(
                                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nnext-poll-configuration-token: {next_token}\r\nnext-poll-interval-in-seconds: 15\r\ncontent-length: {}\r\n\r\n{body}",
                                    body.len()
                                )
                            }
                        } else {
                            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned()
                        }
                    };
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((url, state))
}

#[tokio::test]
async fn sessions_tokens_unchanged_bodies_and_expiry() -> Result<(), Box<dyn std::error::Error>> {
    let (url, fake) = fake_appconfigdata(vec![
        r#"{"new_checkout":true}"#,
        "",
        r#"{"new_checkout":false}"#,
        "",
    ])
    .await?;
    // Credentials, region and an HTTP client as for the other local servers; the endpoint is the fake.
    let config = powertools_testing::dynamodb::local_sdk_config().await?;
    let client = aws_sdk_appconfigdata::Client::from_conf(
        aws_sdk_appconfigdata::config::Builder::from(&config)
            .endpoint_url(url)
            .build(),
    );
    let now = Arc::new(AtomicU64::new(1_795_268_547_000));
    let clock = Arc::clone(&now);
    let provider = AppConfigProvider::new(client, "orders", "prod")
        .with_clock(move || UNIX_EPOCH + Duration::from_millis(clock.load(Ordering::SeqCst)));

    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":true}"#.into())
    );
    // An empty body means unchanged: the last value comes back.
    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":true}"#.into())
    );
    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":false}"#.into())
    );
    assert_eq!(
        fake.lock().map(|f| f.sessions_started).unwrap_or(0),
        1,
        "one session, tokens chained"
    );

    // After 24 hours the token has expired: a new session, the last value kept if unchanged.
    now.fetch_add(25 * 3600 * 1000, Ordering::SeqCst);
    assert_eq!(
        provider.get("flags").await?,
        RawValue::Text(r#"{"new_checkout":false}"#.into())
    );
    assert_eq!(fake.lock().map(|f| f.sessions_started).unwrap_or(0), 2);

    // Behind the cache, typed.
    #[derive(serde::Deserialize)]
    struct Flags {
        new_checkout: bool,
    }
    let parameters = Parameters::builder(provider).build();
    let flags: Flags = parameters.get_json("flags").await?;
    assert!(!flags.new_checkout);
    let _ = parameters.get_raw("flags", GetOptions::new()).await?;
    Ok(())
}
