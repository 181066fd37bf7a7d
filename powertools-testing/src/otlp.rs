//! A local OTLP/HTTP trace receiver: what an OpenTelemetry collector (the ADOT collector
//! extension, say) receives from a function, decoded with the OpenTelemetry protobuf types.
//!
//! It answers `POST /v1/traces` (`application/x-protobuf`) with `200` and keeps each
//! `ExportTraceServiceRequest`. It serves from a thread of its own, so it also answers a
//! client that blocks the test's async runtime.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use powertools_testing::otlp::OtlpReceiver;
//!
//! let receiver = OtlpReceiver::start()?;
//! // LocalFunction::builder(..).env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url())
//! let requests = receiver.wait_for(1, std::time::Duration::from_secs(5)).await;
//! for span in OtlpReceiver::spans(&requests) {
//!     println!("{} {}", span.name, span.kind);
//! }
//! # Ok(()) }
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use opentelemetry_proto::tonic as proto;
use proto::collector::trace::v1::ExportTraceServiceRequest;
use proto::common::v1::{KeyValue, any_value};
use proto::trace::v1::Span;

use prost::Message as _;

use crate::HarnessError;

/// A received request: its head (request line and headers) and what it carried.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line and headers, as sent.
    pub head: String,
    /// The decoded body.
    pub request: ExportTraceServiceRequest,
}

/// A local OTLP/HTTP receiver; see the [module docs](self). It keeps connections alive as a
/// collector does (each served by a thread of its own). Once dropped, it stops at its next
/// connection.
#[derive(Debug)]
pub struct OtlpReceiver {
    base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// A handle on each connection accepted so far.
    connections: Arc<Mutex<Vec<TcpStream>>>,
    stopped: Arc<AtomicBool>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.close_connections();
    }
}

impl OtlpReceiver {
    /// Starts answering at once (`200`, empty body).
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with_delay(Duration::ZERO)
    }

    /// Starts answering each request after `delay` (a slow collector).
    pub fn start_with_delay(delay: Duration) -> Result<Self, HarnessError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(HarnessError::Io)?;
        let base_url = format!(
            "http://{}",
            listener.local_addr().map_err(HarnessError::Io)?
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let (kept, open, stop) = (
            Arc::clone(&received),
            Arc::clone(&connections),
            Arc::clone(&stopped),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                if let Ok(handle) = stream.try_clone() {
                    open.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(handle);
                }
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || serve(stream, &kept, delay));
            }
        });
        Ok(Self {
            base_url,
            received,
            connections,
            stopped,
        })
    }

    /// How many connections the receiver accepted so far (kept-alive connections count once).
    pub fn connections(&self) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Closes every open connection, as a collector does with idle ones (or as happens while a
    /// Lambda execution environment is frozen); the next request needs a new connection.
    pub fn close_connections(&self) {
        for stream in self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends
    /// `/v1/traces`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `<base_url>/v1/traces`, for `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.base_url)
    }

    /// What was received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.received().into_iter().map(|r| r.request).collect()
    }

    /// Waits until `count` requests arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<ExportTraceServiceRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count || Instant::now() >= deadline {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every span of `requests`.
    pub fn spans(requests: &[ExportTraceServiceRequest]) -> Vec<Span> {
        requests
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }
}

/// The value of attribute `key` in `attributes`, as JSON (strings, booleans, numbers, arrays).
pub fn attribute(attributes: &[KeyValue], key: &str) -> Option<serde_json::Value> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(any_value_json(value))
}

fn any_value_json(value: &any_value::Value) -> serde_json::Value {
    use serde_json::json;
    match value {
        any_value::Value::StringValue(s) => json!(s),
        any_value::Value::BoolValue(b) => json!(b),
        any_value::Value::IntValue(i) => json!(i),
        any_value::Value::DoubleValue(d) => json!(d),
        any_value::Value::ArrayValue(array) => serde_json::Value::Array(
            array
                .values
                .iter()
                .filter_map(|v| v.value.as_ref().map(any_value_json))
                .collect(),
        ),
        _ => serde_json::Value::Null,
    }
}

/// Lower-case hex of an id's bytes (trace and span ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Answers the requests of one connection until the client closes it (or asks to).
fn serve(mut stream: TcpStream, kept: &Mutex<Vec<Received>>, delay: Duration) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    while let Some(received) = read_request(&mut stream) {
        let close = received.head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("connection:") && l.contains("close")
        });
        kept.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(received);
        std::thread::sleep(delay);
        let answer: &[u8] = if close {
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        };
        if stream.write_all(answer).is_err() || close {
            break;
        }
    }
    // The receiver keeps a handle on the socket: closing ours alone would send nothing.
    let _ = stream.shutdown(Shutdown::Both);
}

/// One HTTP/1.1 request, framed by its `Content-Length`.
fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    let mut body = buf.split_off(end + 4);
    while body.len() < length {
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    let request = ExportTraceServiceRequest::decode(body.get(..length)?).ok()?;
    Some(Received { head, request })
}
