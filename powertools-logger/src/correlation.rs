//! Correlation ids from the incoming event, by JMESPath.

use serde::Serialize;

/// Where the correlation id is in the incoming event.
///
/// The built-in paths are those of Powertools for Python and TypeScript, so that a correlation
/// id means the same thing in every runtime.
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
    /// Any JMESPath expression.
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

/// A compiled correlation path.
pub(crate) struct Compiled {
    expression: jmespath::Expression<'static>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Compiled")
            .field(&self.expression.as_str())
            .finish()
    }
}

impl Compiled {
    pub(crate) fn new(path: &CorrelationPath) -> Result<Self, String> {
        jmespath::compile(path.expression())
            .map(|expression| Self { expression })
            .map_err(|e| e.to_string())
    }

    /// The id found in `event`: a string as is, a number or bool as text; `None` when absent,
    /// null, a structure, or when the event cannot be searched.
    pub(crate) fn extract<T: Serialize>(&self, event: &T) -> Option<String> {
        let found = self.expression.search(event).ok()?;
        if let Some(s) = found.as_string() {
            return Some(s.clone());
        }
        if found.is_number() || found.is_boolean() {
            return serde_json::to_string(&*found).ok();
        }
        None
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
            let compiled = Compiled::new(&path).unwrap_or_else(|e| unreachable!("{e}"));
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
}
