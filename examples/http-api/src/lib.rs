//! What the two functions of the orders API share: the orders themselves, the DynamoDB client
//! and the configuration they read at INIT. `http-api` (the API, buffered responses) and
//! `http-api-export` (`GET /orders/export`, a streamed response) are its binaries.

pub mod orders;

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use lambda_http::Error;
use powertools_tracer::Tracer;

/// A required environment variable, or an INIT error that says what to set.
pub fn required(name: &str) -> Result<String, Error> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: give the function the name of its table").into())
}

/// A DynamoDB client whose calls are subsegments of the handler's (`tracer`'s interceptor),
/// on a rustls (ring) HTTP client: the SDK's default TLS stack, aws-lc-rs, is slower to build.
pub async fn dynamodb_client(tracer: &Tracer) -> aws_sdk_dynamodb::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config)
            .interceptor(tracer.interceptor())
            .build(),
    )
}
