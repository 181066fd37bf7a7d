//! `GET /orders/export` of the orders API as a streamed response (a function URL in
//! `RESPONSE_STREAM` mode, `lambda_http::run_with_streaming_response`): every stored order, one
//! JSON object per line, sent page by page as DynamoDB returns them, so the first orders reach
//! the client before the last page is read and the export is not bound by the 6 MB limit of
//! buffered responses.
//!
//! The logger, metrics and tracer layers run in streaming mode: the lines logged while the
//! body is sent carry the invocation's request id, `OrdersExported` goes into the invocation's
//! blob after the last page, and the `## export` subsegment (with each page's `Scan` inside it)
//! lasts until the body ends.
//!
//! Environment: `ORDERS_TABLE_NAME` (required), plus the Powertools variables.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http_api::orders::Order;
use http_api::{dynamodb_client, required};
use lambda_http::Error;
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use tower::ServiceBuilder;

/// What the export reads.
#[derive(Debug, Clone)]
struct Export {
    dynamodb: aws_sdk_dynamodb::Client,
    orders_table: String,
    metrics: Metrics,
}

/// Where the scan stands between two pages.
enum Cursor {
    Start,
    After(HashMap<String, AttributeValue>),
    Done,
}

impl Export {
    /// One page of orders as NDJSON, and where the next page starts.
    async fn page(&self, cursor: Cursor) -> Option<(Result<Bytes, Error>, Cursor)> {
        let start = match cursor {
            Cursor::Start => None,
            Cursor::After(key) => Some(key),
            Cursor::Done => return None,
        };
        let page = match self
            .dynamodb
            .scan()
            .table_name(&self.orders_table)
            .set_exclusive_start_key(start)
            .send()
            .await
        {
            Ok(page) => page,
            // The head is sent already: the stream fails, and the layers record why.
            Err(error) => {
                let error = format!("reading orders: {}", error.into_service_error());
                return Some((Err(error.into()), Cursor::Done));
            }
        };
        let mut lines = String::new();
        let mut count = 0_u32;
        for order in page.items().iter().filter_map(Order::from_item) {
            match serde_json::to_string(&order) {
                Ok(line) => {
                    lines.push_str(&line);
                    lines.push('\n');
                    count += 1;
                }
                Err(error) => return Some((Err(error.into()), Cursor::Done)),
            }
        }
        tracing::info!(count, "export page sent");
        if let Err(error) = self
            .metrics
            .add_metric("OrdersExported", Unit::Count, f64::from(count))
        {
            tracing::warn!(error = %error, "OrdersExported not recorded");
        }
        let next = match page.last_evaluated_key() {
            Some(key) => Cursor::After(key.clone()),
            None => Cursor::Done,
        };
        Some((Ok(Bytes::from(lines)), next))
    }
}

/// `GET /orders/export`: the head at once, then a chunk per page.
async fn export_orders(State(export): State<Export>) -> Response {
    tracing::info!("export started");
    let pages = futures_util::stream::unfold(Cursor::Start, move |cursor| {
        let export = export.clone();
        async move { export.page(cursor).await }
    });
    let mut response = Response::new(Body::from_stream(pages));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::from_env();
    let tracer = Tracer::builder().handler_name("export").build()?;
    logger.try_init_with(tracer.tracing_layer())?;
    let namespace =
        std::env::var("POWERTOOLS_METRICS_NAMESPACE").unwrap_or_else(|_| "HttpApi".to_owned());
    let metrics = Metrics::builder().namespace(namespace).build()?;
    let export = Export {
        dynamodb: dynamodb_client(&tracer).await,
        orders_table: required("ORDERS_TABLE_NAME")?,
        metrics: metrics.clone(),
    };
    let router = Router::new()
        .route("/orders/export", get(export_orders))
        .with_state(export);
    // The same layers as the API's, in streaming mode: each finishes when the last page has
    // been sent.
    let service = ServiceBuilder::new()
        .layer(logger.layer().streaming())
        .layer(metrics.layer().streaming())
        .layer(tracer.layer().streaming())
        .service(router);
    lambda_http::run_with_streaming_response(service).await
}
