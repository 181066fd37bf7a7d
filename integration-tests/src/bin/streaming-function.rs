//! A function that streams its HTTP response (`lambda_http::run_with_streaming_response`), with
//! the logger, metrics and tracer layers in streaming mode around an axum router:
//! `GET /export/{rows}` streams `rows` lines, logging and measuring each one as it is sent;
//! `GET /export/{rows}/fail/{at}` fails the stream at line `at`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_tracer::Tracer;
use tower::ServiceBuilder;

/// Streams `rows` lines, failing at `fail` when set; each line is logged and measured inside the
/// invocation, while the body is sent.
fn rows(metrics: Metrics, rows: u32, fail: Option<u32>) -> Response {
    let stream = futures_util::stream::unfold(0_u32, move |row| {
        let metrics = metrics.clone();
        async move {
            if row >= rows {
                return None;
            }
            tokio::task::yield_now().await;
            if fail == Some(row) {
                tracing::warn!(row, "the export store failed");
                return Some((Err(std::io::Error::other("export store unreachable")), rows));
            }
            tracing::info!(row, "row sent");
            let _ = metrics.add_metric("RowSent", Unit::Count, 1.0);
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("row-{row}\n"))),
                row + 1,
            ))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/csv"),
    );
    response
}

async fn export(State(metrics): State<Metrics>, Path(count): Path<u32>) -> Response {
    tracing::info!(rows = count, "export started");
    rows(metrics, count, None)
}

async fn export_failing(
    State(metrics): State<Metrics>,
    Path((count, at)): Path<(u32, u32)>,
) -> Response {
    rows(metrics, count, Some(at))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let logger = Logger::from_env();
    let tracer = Tracer::builder().handler_name("export").build()?;
    logger.try_init_with(tracer.tracing_layer())?;
    let metrics = Metrics::builder().namespace("Streaming").build()?;
    let router: Router = Router::new()
        .route("/export/{rows}", get(export))
        .route("/export/{rows}/fail/{at}", get(export_failing))
        .with_state(metrics.clone());
    // Each layer finishes its invocation when the body's last chunk has been sent.
    let service = ServiceBuilder::new()
        .layer(logger.layer().streaming())
        .layer(metrics.layer().streaming())
        .layer(tracer.layer().streaming())
        .service(router);
    lambda_http::run_with_streaming_response(service).await
}
