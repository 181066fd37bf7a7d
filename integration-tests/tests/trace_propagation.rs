//! The SDK interceptor sends the trace header on the outgoing request, naming the SDK call's
//! own subsegment as the parent. A local HTTP endpoint records what it receives.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::sdk_config;
use powertools_core::Invocation;
use powertools_tracer::{InMemorySink, Tracer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request with an empty DynamoDB JSON response, keeping the request heads.
async fn recording_endpoint() -> std::io::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let heads = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut read = 0;
                // Read until the end of the head and the whole (small) body.
                while let Ok(n) = stream.read(&mut buf[read..]).await {
                    if n == 0 {
                        break;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            if let Ok(mut heads) = sink.lock() {
                                heads.push(head.to_owned());
                            }
                            let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: REQ123\r\ncontent-length: 2\r\n\r\n{}";
                            let _ = stream.write_all(reply.as_bytes()).await;
                            read = 0;
                        }
                    }
                }
            });
        }
    });
    Ok((url, heads))
}

#[tokio::test]
async fn the_trace_header_is_sent_with_the_sdk_call() -> Result<(), Box<dyn std::error::Error>> {
    let (url, heads) = recording_endpoint().await?;
    let sink = InMemorySink::new();
    let tracer = Tracer::builder()
        .env(powertools_core::Env::from_lookup(|_| None))
        .enabled(true)
        .sink(sink.clone())
        .build()?;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(url)
        .interceptor(tracer.interceptor())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let invocation = Invocation::builder("r")
        .trace_header("Root=1-6740a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1")
        .build();
    invocation
        .scope(async {
            client
                .put_item()
                .table_name("orders")
                .item("id", AttributeValue::S("o-1".into()))
                .send()
                .await
        })
        .await?;
    let subsegments = sink.subsegments();
    assert_eq!(subsegments.len(), 1);
    let call = &subsegments[0];
    assert_eq!(call.parent_id.as_deref(), Some("53995c3f42cd8ad8"));
    let seen = heads.lock().map(|h| h.clone()).unwrap_or_default();
    let header = seen[0]
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("x-amzn-trace-id:")
                .then(|| l[16..].trim().to_owned())
        })
        .unwrap_or_default();
    assert_eq!(
        header,
        format!(
            "Root=1-6740a1b2-0123456789abcdef01234567;Parent={};Sampled=1",
            call.id
        )
    );
    let aws = call.aws.clone().unwrap_or_default();
    assert_eq!(aws["request_id"], "REQ123");
    assert_eq!(aws["table_name"], "orders");

    // Outside a traced invocation: no header, no subsegment.
    client
        .put_item()
        .table_name("orders")
        .item("id", AttributeValue::S("o-2".into()))
        .send()
        .await?;
    let seen = heads.lock().map(|h| h.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 2);
    assert!(
        !seen[1].to_ascii_lowercase().contains("x-amzn-trace-id"),
        "{}",
        seen[1]
    );
    assert_eq!(sink.subsegments().len(), 1);
    Ok(())
}
