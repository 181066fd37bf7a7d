//! A streamed HTTP response under the real runtime loop (`run_with_streaming_response`): the
//! body's log lines carry the invocation's keys, its metrics land in the invocation's blob
//! (flushed after the last chunk), the handler subsegment covers the whole body; a stream
//! that fails midway is a fault with its cause.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use powertools_testing::{InvocationRequest, LocalFunction, UdpCollector, emf, events, xray};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const STREAMING: &str = env!("CARGO_BIN_EXE_streaming-function");

/// A function URL request (payload 2.0) for `GET <path>`.
fn get(path: &str, request_id: &str) -> InvocationRequest {
    let event = events::function_url("GET", path)
        .header("host", "xyz.lambda-url.eu-west-1.on.aws")
        .header("x-forwarded-proto", "https")
        .request_id(format!("url-{request_id}"))
        .build();
    InvocationRequest::json(&event)
        .unwrap()
        .request_id(request_id)
        .sampled_trace()
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

#[tokio::test]
async fn the_invocation_covers_the_whole_streamed_body() -> TestResult {
    let collector = UdpCollector::start().await?;
    let function = LocalFunction::builder(STREAMING)
        .function_name("streaming-export")
        .env("POWERTOOLS_SERVICE_NAME", "exports")
        .env("AWS_XRAY_DAEMON_ADDRESS", collector.daemon_address())
        .start()
        .await?;

    let outcome = function.invoke(get("/export/3", "r-1")).await?;
    let streamed = outcome.streamed().expect("a streamed response");
    assert_eq!(streamed.body, "row-0\nrow-1\nrow-2\n");
    assert!(streamed.error.is_none(), "{streamed:?}");
    let prelude = streamed.prelude.as_ref().expect("lambda_http's prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/csv");

    let failed = function.invoke(get("/export/4/fail/2", "r-2")).await?;
    let streamed = failed.streamed().expect("a streamed response");
    assert_eq!(
        streamed.body, "row-0\nrow-1\n",
        "the rows before the failure"
    );
    let error = streamed.error.as_ref().expect("the mid-stream error");
    assert_eq!(error.error_type, "Runtime.StreamError");

    let datagrams = collector.wait_for(2, Duration::from_secs(10)).await;
    let stopped = function.stop().await;
    let lines = json_lines(&stopped.stdout);

    // The body's lines, written while it was sent, belong to the invocation.
    let rows: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "row sent")
        .collect();
    assert_eq!(rows.len(), 3 + 2, "{lines:#?}");
    for line in &rows[..3] {
        assert_eq!(line["function_request_id"], "r-1", "{line}");
        assert_eq!(line["correlation_id"], "url-r-1", "{line}");
        assert_eq!(line["cold_start"], true, "{line}");
    }
    assert_eq!(rows[3]["function_request_id"], "r-2");
    let stream_error = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("the response stream failed"))
        })
        .unwrap_or_else(|| panic!("no stream failure line: {lines:#?}"));
    assert_eq!(stream_error["level"], "ERROR");
    assert_eq!(stream_error["function_request_id"], "r-2");

    // One blob per invocation, written after the last chunk, with every row's metric.
    let blobs: Vec<Value> = stopped
        .stdout
        .iter()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| emf::check_blob(l).unwrap())
        .collect();
    let sent: Vec<&Value> = blobs
        .iter()
        .filter(|b| b.get("RowSent").is_some())
        .collect();
    assert_eq!(sent.len(), 2, "{blobs:#?}");
    assert_eq!(sent[0]["RowSent"], json!([1.0, 1.0, 1.0]));
    assert_eq!(sent[1]["RowSent"], json!([1.0, 1.0]));

    // The handler subsegment ends with the body: its length, and the failure as a fault.
    let docs: Vec<Value> = datagrams
        .iter()
        .map(|d| xray::check_datagram(d).unwrap())
        .filter(|d| d["name"] == "## export")
        .collect();
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["http"]["response"]["status"], 200);
    assert_eq!(
        docs[0]["http"]["response"]["content_length"],
        "row-0\nrow-1\nrow-2\n".len()
    );
    assert!(docs[0].get("fault").is_none(), "{}", docs[0]);
    assert_eq!(docs[1]["fault"], true, "{}", docs[1]);
    assert_eq!(docs[1]["cause"]["exceptions"][0]["type"], "StreamError");
    assert!(
        docs[1]["cause"]["exceptions"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("export store unreachable")),
        "{}",
        docs[1]
    );
    Ok(())
}
