//! The same echo handler with the logger: built from the environment at INIT, its context layer
//! around the handler, and one INFO line per invocation.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_logger::Logger;
use serde_json::Value;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let logger = Logger::from_env();
    logger.try_init()?;
    let service = ServiceBuilder::new()
        .layer(logger.layer())
        .service(service_fn(|event: LambdaEvent<Value>| async move {
            tracing::info!(order_id = "o-1001", "echo");
            Ok::<_, Error>(event.payload)
        }));
    lambda_runtime::run(service).await
}
