//! Helpers shared by the parameters tests: what an error shows, and a minimal HTTP/1.1 server
//! for the fake AWS endpoints no local server offers.
#![allow(dead_code)] // each test binary uses part of it

use std::error::Error as _;
use std::sync::Arc;

use powertools_params::ParameterError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Everything an error can show: Display and Debug of it and of every source below it.
pub(crate) fn everything_shown(error: &ParameterError) -> String {
    let mut shown = format!("{error}\n{error:?}\n");
    let mut source = error.source();
    while let Some(inner) = source {
        shown.push_str(&format!("{inner}\n{inner:?}\n"));
        source = inner.source();
    }
    shown
}

/// A raw HTTP/1.1 response with `status` (e.g. `200 OK`), extra header lines and `body`.
pub(crate) fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut reply = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        reply.push_str(&format!("{name}: {value}\r\n"));
    }
    reply.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    reply
}

/// Serves HTTP/1.1 on a free loopback port (keep-alive, requests framed by content-length):
/// `respond` gets each request line (`POST /path HTTP/1.1`) and returns the raw response.
/// Returns the server's URL.
pub(crate) async fn serve_http<F>(respond: F) -> std::io::Result<String>
where
    F: Fn(&str) -> String + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let respond = Arc::clone(&respond);
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
                    let reply = respond(head.lines().next().unwrap_or_default());
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}
