#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::io::Read;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use jmespath::functions::{ArgumentType, CustomFunction, Signature};
use jmespath::{Context, ErrorReason, JmespathError, Rcvar, Runtime, Variable};
use serde::Serialize;
use serde_json::Value;

/// Why an expression did not compile or a search failed (a Powertools function given input
/// it cannot decode). It names the expression, never the searched data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JMESPath `{expression}`: {reason}")]
pub struct Error {
    expression: String,
    reason: String,
}

impl Error {
    /// The expression that failed.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    fn new(expression: &str, error: &JmespathError) -> Self {
        Self {
            expression: expression.to_owned(),
            reason: error.reason.to_string(),
        }
    }
}

fn fail(ctx: &Context<'_>, message: String) -> JmespathError {
    JmespathError::new(ctx.expression, ctx.offset, ErrorReason::Parse(message))
}

fn string_function(
    name: &'static str,
    f: fn(&str) -> Result<Variable, String>,
) -> Box<CustomFunction> {
    Box::new(CustomFunction::new(
        Signature::new(vec![ArgumentType::String], None),
        Box::new(move |args: &[Rcvar], ctx: &mut Context<'_>| {
            let input = args
                .first()
                .and_then(|a| a.as_string().cloned())
                .ok_or_else(|| fail(ctx, format!("{name} takes a string")))?;
            f(&input)
                .map(Arc::new)
                .map_err(|e| fail(ctx, format!("{name}: {e}")))
        }),
    ))
}

fn decode_base64(input: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(input.trim())
        .map_err(|e| format!("not base64: {e}"))
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut runtime = Runtime::new();
        runtime.register_builtin_functions();
        runtime.register_function(
            "powertools_json",
            string_function("powertools_json", |s| {
                Variable::from_json(s).map_err(|e| format!("not JSON: {e}"))
            }),
        );
        runtime.register_function(
            "powertools_base64",
            string_function("powertools_base64", |s| {
                let bytes = decode_base64(s)?;
                String::from_utf8(bytes)
                    .map(Variable::String)
                    .map_err(|e| format!("not UTF-8: {e}"))
            }),
        );
        runtime.register_function(
            "powertools_base64_gzip",
            string_function("powertools_base64_gzip", |s| {
                let bytes = decode_base64(s)?;
                let mut text = String::new();
                flate2::read::GzDecoder::new(bytes.as_slice())
                    .read_to_string(&mut text)
                    .map_err(|e| format!("not gzip text: {e}"))?;
                Ok(Variable::String(text))
            }),
        );
        runtime
    })
}

/// A compiled JMESPath expression that knows the Powertools functions. Compile once (at INIT,
/// in a builder) and search many times; cheap to share across threads.
///
/// ```
/// use powertools_jmespath::Expression;
/// use serde_json::json;
///
/// let expression = Expression::compile("powertools_json(body).order_id")?;
/// let event = json!({"body": "{\"order_id\": \"o-1\"}"});
/// assert_eq!(expression.search(&event)?, json!("o-1"));
/// # Ok::<(), powertools_jmespath::Error>(())
/// ```
pub struct Expression {
    expression: jmespath::Expression<'static>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression")
            .field(&self.expression.as_str())
            .finish()
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expression.as_str())
    }
}

impl Expression {
    /// Compiles `expression`.
    pub fn compile(expression: &str) -> Result<Self, Error> {
        runtime()
            .compile(expression)
            .map(|expression| Self { expression })
            .map_err(|e| Error::new(expression, &e))
    }

    /// The expression's text.
    pub fn as_str(&self) -> &str {
        self.expression.as_str()
    }

    /// The part of `data` the expression selects (`Value::Null` when it finds nothing).
    pub fn search(&self, data: &Value) -> Result<Value, Error> {
        self.search_serialize(data)
    }

    /// [`search`](Self::search) over any serializable value (an event type).
    pub fn search_serialize<T: Serialize + ?Sized>(&self, data: &T) -> Result<Value, Error> {
        let found = self
            .expression
            .search(data)
            .map_err(|e| Error::new(self.as_str(), &e))?;
        serde_json::to_value(&*found).map_err(|e| Error {
            expression: self.as_str().to_owned(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn select(expr: &str, payload: Value) -> Result<Value, String> {
        Expression::compile(expr)
            .and_then(|e| e.search(&payload))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn powertools_json_parses_an_api_gateway_body() {
        let event = json!({"body": "{\"user\":\"xyz\",\"product_id\":\"123456789\"}"});
        assert_eq!(
            select("powertools_json(body)", event.clone()),
            Ok(json!({"user": "xyz", "product_id": "123456789"}))
        );
        assert_eq!(
            select("powertools_json(body).[user, product_id]", event),
            Ok(json!(["xyz", "123456789"]))
        );
    }

    #[test]
    fn base64_and_gzip() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("{\"id\":7}");
        assert_eq!(
            select(
                "powertools_json(powertools_base64(data))",
                json!({"data": b64})
            ),
            Ok(json!({"id": 7}))
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = gz.write_all(b"{\"id\":8}");
        let gz = gz.finish().unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD.encode(gz);
        assert_eq!(
            select(
                "powertools_json(powertools_base64_gzip(data))",
                json!({"data": b64})
            ),
            Ok(json!({"id": 8}))
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(select("powertools_json(body)", json!({"body": "{not json"})).is_err());
        assert!(select("powertools_base64(data)", json!({"data": "%%%"})).is_err());
        assert!(select("powertools_base64_gzip(data)", json!({"data": "aGVsbG8="})).is_err());
        assert!(Expression::compile("a.[").is_err());
        assert_eq!(select("missing.path", json!({})), Ok(Value::Null));
    }
}
