//! The same echo handler with the metrics client: built at INIT, its layer around the handler
//! (the ColdStart blob on the first invocation), one metric per invocation.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_metrics::{Metrics, Unit};
use serde_json::Value;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = Metrics::builder().namespace("Bench").build()?;
    let handler_metrics = metrics.clone();
    let service = ServiceBuilder::new()
        .layer(metrics.layer())
        .service(service_fn(move |event: LambdaEvent<Value>| {
            let metrics = handler_metrics.clone();
            async move {
                metrics.add_metric("Echo", Unit::Count, 1.0)?;
                Ok::<_, Error>(event.payload)
            }
        }));
    lambda_runtime::run(service).await
}
