//! The same echo handler wrapped in the invocation layer (config from env, cold start, scope).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use powertools_core::{Invocation, InvocationLayer};
use serde_json::Value;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let service = ServiceBuilder::new()
        .layer(InvocationLayer::from_env())
        .service(service_fn(|event: LambdaEvent<Value>| async move {
            // Touch the scope so the layer's work cannot be optimised away.
            let cold = Invocation::with_current(Invocation::is_cold_start).unwrap_or(false);
            Ok::<_, Error>(serde_json::json!({ "cold_start": cold, "echo": event.payload }))
        }));
    lambda_runtime::run(service).await
}
