//! The same echo handler with every utility, as the quickstart composes them: logger, metrics,
//! tracer (sampled requests, to a discarded UDP address), idempotency (in memory) and a
//! parameter (in memory). What a function using all five pays at cold start.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_idempotency::{Idempotency, InMemoryStore};
use powertools_logger::Logger;
use powertools_metrics::{Metrics, Unit};
use powertools_params::{InMemoryProvider, Parameters};
use powertools_tracer::Tracer;
use serde_json::Value;
use tower::ServiceBuilder;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::from_env();
    let tracer = Tracer::from_env();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(logger.tracing_layer())
            .with(tracer.tracing_layer()),
    )?;
    let metrics = Metrics::builder().namespace("Bench").build()?;
    let idempotency = Idempotency::builder(InMemoryStore::new()).build()?;
    let provider = InMemoryProvider::new();
    provider.set("/bench/flag", "on");
    let parameters = Parameters::builder(provider).build()?;
    let handler_metrics = metrics.clone();
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .layer(metrics.layer())
        .layer(tracer.layer())
        .layer(idempotency.layer())
        .service(service_fn(move |event: LambdaEvent<Value>| {
            let metrics = handler_metrics.clone();
            let parameters = parameters.clone();
            async move {
                let flag = parameters.get("/bench/flag").await?;
                tracing::info!(flag = flag.as_str(), "echo");
                metrics.add_metric("Echo", Unit::Count, 1.0)?;
                Ok::<_, Error>(event.payload)
            }
        }));
    lambda_runtime::run(service).await
}
