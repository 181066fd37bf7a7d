//! The orders API: `POST /orders` with a JSON order creates it and answers 201.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{Error, LambdaEvent};
use powertools_core::Invocation;
use powertools_metrics::{Metrics, Resolution, Unit};
use powertools_params::{InMemoryProvider, Parameters};
use powertools_tracer::Tracer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::Instrument;

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrder {
    /// Who orders.
    pub(crate) customer_id: String,
    /// What is ordered.
    pub(crate) sku: String,
    /// How many (1 to 100).
    pub(crate) quantity: u32,
}

/// An accepted order.
#[derive(Debug, Serialize)]
pub(crate) struct Order {
    /// Our id for it.
    pub(crate) order_id: String,
    /// Who ordered.
    pub(crate) customer_id: String,
    /// What was ordered.
    pub(crate) sku: String,
    /// How many.
    pub(crate) quantity: u32,
    /// Always `accepted` here.
    pub(crate) status: &'static str,
}

static NEXT_ORDER: AtomicU64 = AtomicU64::new(1001);

/// What the handler uses, built once at INIT.
#[derive(Debug, Clone)]
pub(crate) struct Deps {
    pub(crate) metrics: Metrics,
    pub(crate) tracer: Tracer,
    pub(crate) parameters: Parameters<InMemoryProvider>,
}

/// Feature flags, from a JSON parameter.
#[derive(Debug, Deserialize)]
struct FeatureFlags {
    express_shipping: bool,
}

/// Saves the order (an in-memory stand-in for a database write), in its own subsegment.
async fn save(order: &Order) {
    async {
        tracing::debug!(order_id = order.order_id.as_str(), "saving order");
        tokio::task::yield_now().await;
    }
    .instrument(tracing::info_span!(
        "## save_order",
        annotation.order_id = order.order_id.as_str()
    ))
    .await;
}

fn respond(status: i64, body: &serde_json::Value) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.headers.insert("content-type", http_json());
    response.body = Some(Body::Text(body.to_string()));
    response
}

fn http_json() -> aws_lambda_events::http::HeaderValue {
    aws_lambda_events::http::HeaderValue::from_static("application/json")
}

/// Checks an order request; the error is the message the client gets with a 4xx.
pub(crate) fn parse_order(body: Option<&str>) -> Result<NewOrder, (i64, String)> {
    let body = body.filter(|b| !b.trim().is_empty()).ok_or((
        400,
        "request body is required: send a JSON order such as {\"customer_id\":\"c-1\",\"sku\":\"BOOK-1984\",\"quantity\":1}".to_owned(),
    ))?;
    let order: NewOrder = serde_json::from_str(body)
        .map_err(|e| (400, format!("request body is not a valid order: {e}")))?;
    if order.sku.trim().is_empty() || order.customer_id.trim().is_empty() {
        return Err((422, "customer_id and sku must not be empty".to_owned()));
    }
    if !(1..=100).contains(&order.quantity) {
        return Err((
            422,
            format!("quantity must be between 1 and 100, got {}", order.quantity),
        ));
    }
    Ok(order)
}

/// The Lambda handler.
pub(crate) async fn handler(
    deps: Deps,
    event: LambdaEvent<ApiGatewayProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let Deps {
        metrics,
        tracer,
        parameters,
    } = deps;
    let started = std::time::Instant::now();
    let request = event.payload;
    if request.http_method != aws_lambda_events::http::Method::POST {
        return Ok(respond(
            405,
            &json!({ "message": "only POST /orders is supported" }),
        ));
    }
    let new_order = match parse_order(request.body.as_deref()) {
        Ok(order) => order,
        Err((status, message)) => {
            tracing::warn!(status, reason = message.as_str(), "order rejected");
            metrics.add_metric("OrderRejected", Unit::Count, 1.0)?;
            return Ok(respond(status, &json!({ "message": message })));
        }
    };
    let order = Order {
        order_id: format!("o-{}", NEXT_ORDER.fetch_add(1, Ordering::Relaxed)),
        customer_id: new_order.customer_id,
        sku: new_order.sku,
        quantity: new_order.quantity,
        status: "accepted",
    };
    let flags: FeatureFlags = parameters.get_json("/orders/feature-flags.json").await?;
    let api_key = parameters.get_secret("/orders/payment-api-key").await?;
    // The secret prints as Secret(*****): it never reaches a log line.
    tracing::info!(express_shipping = flags.express_shipping, api_key = ?api_key, "payment provider ready");
    powertools_logger::append_invocation_key("customer_id", json!(order.customer_id));
    tracer.put_annotation("customer_id", order.customer_id.as_str());
    save(&order).await;
    tracing::debug!(sku = order.sku.as_str(), "checking stock");
    tracing::info!(
        order_id = order.order_id.as_str(),
        sku = order.sku.as_str(),
        quantity = order.quantity,
        "order accepted"
    );
    metrics.add_metric("OrderAccepted", Unit::Count, 1.0)?;
    metrics.add_metric_with_resolution(
        "OrderLatency",
        Unit::Milliseconds,
        Resolution::High,
        started.elapsed().as_secs_f64() * 1_000.0,
    )?;
    metrics.add_metadata("order_id", json!(order.order_id))?;
    let invocation = Invocation::current();
    Ok(respond(
        201,
        &json!({
            "order": order,
            "express_shipping": flags.express_shipping,
            "request_id": invocation.as_ref().map(|i| i.request_id()),
            "cold_start": invocation.as_ref().is_some_and(Invocation::is_cold_start),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_valid_order() {
        let order = parse_order(Some(r#"{"customer_id":"c-1","sku":"A","quantity":3}"#));
        assert_eq!(order.map(|o| o.quantity).ok(), Some(3));
    }

    #[test]
    fn rejects_bad_orders_with_a_message() {
        let cases = [
            (None, 400, "request body is required"),
            (Some("   "), 400, "request body is required"),
            (Some("{\"sku\": "), 400, "not a valid order"),
            (
                Some(r#"{"customer_id":"c","sku":"A","quantity":0}"#),
                422,
                "between 1 and 100",
            ),
            (
                Some(r#"{"customer_id":"c","sku":" ","quantity":1}"#),
                422,
                "must not be empty",
            ),
            (
                Some(r#"{"customer_id":"c","sku":"A","quantity":1,"x":1}"#),
                400,
                "unknown field",
            ),
        ];
        for (body, status, text) in cases {
            match parse_order(body) {
                Err((got, message)) => {
                    assert_eq!(got, status, "{body:?}");
                    assert!(message.contains(text), "{body:?}: {message}");
                }
                Ok(order) => panic!("{body:?} accepted as {order:?}"),
            }
        }
    }
}
