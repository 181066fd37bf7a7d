#![doc = include_str!("../README.md")]
// docs.rs (nightly, `--cfg docsrs`) marks each item with the features it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::borrow::Cow;
use std::io::Read;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use jmespath::ast::Ast;
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
    /// Whether the expression only uses what [`fast`] evaluates in place.
    fast: bool,
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
            .map(|expression| Self {
                fast: fast_supported(expression.as_ast()),
                expression,
            })
            .map_err(|e| Error::new(expression, &e))
    }

    /// The expression's text.
    pub fn as_str(&self) -> &str {
        self.expression.as_str()
    }

    /// The part of `data` the expression selects (`Value::Null` when it finds nothing).
    pub fn search(&self, data: &Value) -> Result<Value, Error> {
        self.search_ref(data).map(Cow::into_owned)
    }

    /// [`search`](Self::search), borrowing from `data` what it selects as it is: field and
    /// index paths, multi-select lists and hashes, and the Powertools functions are evaluated
    /// in place, without converting `data`; other expressions are evaluated by the JMESPath
    /// runtime. The result is the same either way.
    ///
    /// ```
    /// use powertools_jmespath::Expression;
    /// use serde_json::json;
    ///
    /// let event = json!({"headers": {"idempotency-key": "k-1"}});
    /// let key = Expression::compile(r#"headers."idempotency-key""#)?.search_ref(&event)?;
    /// assert!(matches!(key, std::borrow::Cow::Borrowed(_)));
    /// assert_eq!(*key, json!("k-1"));
    /// # Ok::<(), powertools_jmespath::Error>(())
    /// ```
    pub fn search_ref<'a>(&self, data: &'a Value) -> Result<Cow<'a, Value>, Error> {
        if self.fast
            && let Some(found) = fast(self.expression.as_ast(), Cow::Borrowed(data))
        {
            return Ok(found);
        }
        // Unsupported here, or an error: the runtime says which, in its own words.
        self.search_serialize(data).map(Cow::Owned)
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

/// Whether [`fast`] evaluates every node of `ast`.
fn fast_supported(ast: &Ast) -> bool {
    match ast {
        Ast::Identity { .. } | Ast::Field { .. } | Ast::Index { .. } => true,
        Ast::Subexpr { lhs, rhs, .. } => fast_supported(lhs) && fast_supported(rhs),
        Ast::MultiList { elements, .. } => elements.iter().all(fast_supported),
        Ast::MultiHash { elements, .. } => elements.iter().all(|kv| fast_supported(&kv.value)),
        Ast::Function { name, args, .. } => {
            matches!(
                name.as_str(),
                "powertools_json" | "powertools_base64" | "powertools_base64_gzip"
            ) && args.len() == 1
                && fast_supported(&args[0])
        }
        _ => false,
    }
}

/// `ast` evaluated over `data` as the JMESPath runtime does, borrowing what it selects;
/// `None` when the runtime must say what went wrong (a function given what it cannot decode).
fn fast<'a>(ast: &Ast, data: Cow<'a, Value>) -> Option<Cow<'a, Value>> {
    const NULL: Value = Value::Null;
    Some(match ast {
        Ast::Identity { .. } => data,
        Ast::Field { name, .. } => match data {
            Cow::Borrowed(value) => Cow::Borrowed(value.get(name.as_str()).unwrap_or(&NULL)),
            Cow::Owned(Value::Object(mut map)) => Cow::Owned(map.remove(name).unwrap_or(NULL)),
            Cow::Owned(_) => Cow::Owned(NULL),
        },
        Ast::Index { idx, .. } => {
            let position = |len: usize| -> Option<usize> {
                match usize::try_from(*idx) {
                    Ok(index) => Some(index),
                    // -n counts from the end (-0 as -1, as the runtime does).
                    Err(_) => len.checked_sub(usize::try_from(idx.unsigned_abs()).ok()?.max(1)),
                }
            };
            match data {
                Cow::Borrowed(Value::Array(items)) => Cow::Borrowed(
                    position(items.len())
                        .and_then(|i| items.get(i))
                        .unwrap_or(&NULL),
                ),
                Cow::Owned(Value::Array(mut items)) => Cow::Owned(
                    position(items.len())
                        .filter(|i| *i < items.len())
                        .map_or(NULL, |i| items.swap_remove(i)),
                ),
                _ => Cow::Owned(NULL),
            }
        }
        Ast::Subexpr { lhs, rhs, .. } => fast(rhs, fast(lhs, data)?)?,
        Ast::MultiList { elements, .. } => {
            if data.is_null() {
                return Some(Cow::Owned(NULL));
            }
            let data = Cow::Borrowed(&*data);
            let items = elements
                .iter()
                .map(|node| fast(node, data.clone()).map(Cow::into_owned))
                .collect::<Option<Vec<Value>>>()?;
            Cow::Owned(Value::Array(items))
        }
        Ast::MultiHash { elements, .. } => {
            if data.is_null() {
                return Some(Cow::Owned(NULL));
            }
            let data = Cow::Borrowed(&*data);
            // The runtime collects a multi-select hash in key order.
            let mut collected = std::collections::BTreeMap::new();
            for pair in elements {
                let value = fast(&pair.value, data.clone())?.into_owned();
                collected.insert(pair.key.clone(), value);
            }
            Cow::Owned(Value::Object(collected.into_iter().collect()))
        }
        Ast::Function { name, args, .. } => {
            let argument = fast(args.first()?, data)?;
            let Value::String(text) = &*argument else {
                return None;
            };
            match name.as_str() {
                "powertools_json" => Cow::Owned(serde_json::from_str(text).ok()?),
                "powertools_base64" => Cow::Owned(Value::String(
                    String::from_utf8(decode_base64(text).ok()?).ok()?,
                )),
                "powertools_base64_gzip" => {
                    let bytes = decode_base64(text).ok()?;
                    let mut out = String::new();
                    flate2::read::GzDecoder::new(bytes.as_slice())
                        .read_to_string(&mut out)
                        .ok()?;
                    Cow::Owned(Value::String(out))
                }
                _ => return None,
            }
        }
        _ => return None,
    })
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

#[cfg(test)]
mod fast_path {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Values over a few field names, some strings holding JSON or base64 text.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e9f64..1e9).prop_map(|f| json!(f)),
            "[a-zA-Z0-9 é]{0,8}".prop_map(Value::String),
            Just(json!("{\"a\": 1, \"B\": [true, null], \"b\": \"x\"}")),
            Just(json!("[1, {\"a\": 2}]")),
            Just(json!("{not json")),
            Just(json!("eyJhIjogM30=")), // base64 of {"a": 3}
            Just(json!("%%%")),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["a", "b", "B", "body", "c"]),
                        inner
                    ),
                    0..4
                )
                .prop_map(|pairs| Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    /// Expressions over the same names, from what the fast path evaluates and a few it leaves.
    fn expression() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec!["a", "b", "B", "body", "c", "\"a\""]);
        let step = prop_oneof![
            name.clone().prop_map(str::to_owned),
            (-3i32..3).prop_map(|i| format!("[{i}]")),
            Just("powertools_json(@)".to_owned()),
            Just("powertools_base64(@)".to_owned()),
            Just("powertools_json(powertools_base64(@))".to_owned()),
            (name.clone(), name.clone()).prop_map(|(x, y)| format!("[{x}, {y}]")),
            (name.clone(), name).prop_map(|(x, y)| format!("{{k: {x}, j: {y}}}")),
            Just("length(@)".to_owned()),
            Just("[*]".to_owned()),
        ];
        prop::collection::vec(step, 1..4).prop_map(|steps| {
            steps.into_iter().fold(String::from("@"), |acc, step| {
                if let Some(index) = step
                    .strip_prefix('[')
                    .filter(|s| !s.contains(',') && !s.starts_with('*'))
                {
                    format!("{acc}[{index}")
                } else if step.contains("(@)") {
                    step.replace('@', &acc)
                } else {
                    format!("{acc}.{step}")
                }
            })
        })
    }

    proptest! {
        #[test]
        fn the_fast_path_finds_what_the_runtime_finds(data in value(), text in expression()) {
            let Ok(compiled) = Expression::compile(&text) else { return Ok(()) };
            let slow = compiled.search_serialize(&data);
            if compiled.fast {
                match fast(compiled.expression.as_ast(), Cow::Borrowed(&data)) {
                    Some(found) => {
                        prop_assert_eq!(Ok(found.into_owned()), slow.clone(), "{}", text);
                    }
                    None => prop_assert!(slow.is_err(), "{} gave {:?}", text, slow),
                }
            }
            // search_ref agrees with the runtime however it went.
            prop_assert_eq!(compiled.search_ref(&data).map(Cow::into_owned), slow);
        }
    }

    #[test]
    fn paths_borrow_and_functions_are_evaluated_in_place() {
        let event = json!({"body": "{\"order\": {\"id\": \"o-1\"}}", "list": [1, 2, 3]});
        let found = Expression::compile("list[-1]")
            .unwrap()
            .search_ref(&event)
            .unwrap();
        assert!(matches!(found, Cow::Borrowed(_)));
        assert_eq!(*found, json!(3));
        let expression = Expression::compile("powertools_json(body).order.id").unwrap();
        assert!(expression.fast);
        assert_eq!(expression.search(&event).unwrap(), json!("o-1"));
        assert!(!Expression::compile("list[?@ > `1`]").unwrap().fast);
        // A function given what it cannot decode: the runtime's error.
        let error = Expression::compile("powertools_json(list)")
            .unwrap()
            .search(&event);
        assert!(error.is_err());
    }
}
