//! Correlation ids from the incoming event, by JMESPath.

use powertools_jmespath::Expression;
use serde::Serialize;
use serde_json::Value;

/// Where the correlation id is in the incoming event.
///
/// The built-in paths are those of Powertools for Python and TypeScript, so that a correlation
/// id means the same thing in every runtime.
///
/// For HTTP requests (`http::Request`, as `lambda_http` hands them to a service; feature
/// `http`) there is no raw event to search: the built-in paths are read from the request
/// instead. `ApiGatewayRest`, `ApiGatewayHttp` and `FunctionUrl` take the request context's
/// request id, `ApplicationLoadBalancer` the `x-amzn-trace-id` header; `AppSyncResolver` and
/// `EventBridge` find nothing, and a `Custom` expression is not evaluated (said once on
/// stderr): use `LoggerBuilder::correlation_id_header` for an id in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorrelationPath {
    /// API Gateway REST API: `requestContext.requestId`.
    ApiGatewayRest,
    /// API Gateway HTTP API: `requestContext.requestId`.
    ApiGatewayHttp,
    /// Lambda function URL: `requestContext.requestId`.
    FunctionUrl,
    /// Application Load Balancer: `headers."x-amzn-trace-id"`.
    ApplicationLoadBalancer,
    /// AppSync resolver: `request.headers."x-amzn-trace-id"`.
    AppSyncResolver,
    /// EventBridge: `id`.
    EventBridge,
    /// Any JMESPath expression; the Powertools functions work in it, e.g.
    /// `powertools_json(body).order_id` for an id inside an API Gateway body.
    Custom(String),
}

impl CorrelationPath {
    /// The JMESPath expression.
    pub fn expression(&self) -> &str {
        match self {
            Self::ApiGatewayRest | Self::ApiGatewayHttp | Self::FunctionUrl => {
                "requestContext.requestId"
            }
            Self::ApplicationLoadBalancer => "headers.\"x-amzn-trace-id\"",
            Self::AppSyncResolver => "request.headers.\"x-amzn-trace-id\"",
            Self::EventBridge => "id",
            Self::Custom(expression) => expression,
        }
    }
}

/// A compiled correlation path (with the Powertools functions: `powertools_json(body).id`).
#[derive(Debug)]
pub(crate) struct Compiled {
    expression: Expression,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    path: CorrelationPath,
}

impl Compiled {
    pub(crate) fn new(path: &CorrelationPath) -> Result<Self, powertools_jmespath::Error> {
        Expression::compile(path.expression()).map(|expression| Self {
            expression,
            path: path.clone(),
        })
    }

    /// The path this was compiled from (HTTP requests read the built-in paths without
    /// JMESPath).
    #[cfg(feature = "http")]
    pub(crate) fn path(&self) -> &CorrelationPath {
        &self.path
    }

    /// The id found in `event`: a string as is, a number or bool as text; `None` when absent,
    /// null, a structure, or when the event cannot be searched.
    pub(crate) fn extract<T: Serialize>(&self, event: &T) -> Option<String> {
        match self.expression.search_serialize(event).ok()? {
            Value::String(s) => Some(s),
            found @ (Value::Number(_) | Value::Bool(_)) => Some(found.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn built_in_paths() {
        let cases = [
            (
                CorrelationPath::ApiGatewayRest,
                json!({"requestContext": {"requestId": "r-1"}}),
                Some("r-1"),
            ),
            (
                CorrelationPath::ApplicationLoadBalancer,
                json!({"headers": {"x-amzn-trace-id": "Root=1-abc"}}),
                Some("Root=1-abc"),
            ),
            (
                CorrelationPath::AppSyncResolver,
                json!({"request": {"headers": {"x-amzn-trace-id": "t"}}}),
                Some("t"),
            ),
            (
                CorrelationPath::EventBridge,
                json!({"id": "e-1"}),
                Some("e-1"),
            ),
            (CorrelationPath::EventBridge, json!({"id": 42}), Some("42")),
            (
                CorrelationPath::EventBridge,
                json!({"id": {"nested": 1}}),
                None,
            ),
            (CorrelationPath::EventBridge, json!({"other": 1}), None),
            (CorrelationPath::EventBridge, json!([1, 2]), None),
        ];
        for (path, event, expected) in cases {
            let compiled = Compiled::new(&path).unwrap();
            assert_eq!(
                compiled.extract(&event).as_deref(),
                expected,
                "{path:?} on {event}"
            );
        }
    }

    #[test]
    fn invalid_custom_path_is_an_error() {
        assert!(Compiled::new(&CorrelationPath::Custom("a.[".into())).is_err());
        assert!(Compiled::new(&CorrelationPath::Custom("detail.orderId".into())).is_ok());
    }

    #[test]
    fn a_custom_path_may_use_the_powertools_functions() {
        // Plain `jmespath` knows no `powertools_json`: its search failed and no id was found.
        let path = CorrelationPath::Custom("powertools_json(body).order_id".into());
        let compiled = Compiled::new(&path).unwrap();
        let event = json!({"body": "{\"order_id\": \"o-1001\"}"});
        assert_eq!(compiled.extract(&event).as_deref(), Some("o-1001"));
        assert_eq!(compiled.extract(&json!({"body": "not json"})), None);
    }
}
