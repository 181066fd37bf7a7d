//! Where the key data comes from, and when a payload has no key.

use std::borrow::Cow;
use std::sync::Arc;

use powertools_jmespath::Expression;
use serde_json::Value;

use crate::error::KeySelectionError;

/// A typed key function, over the payload as JSON.
pub(crate) type KeyFn = dyn Fn(&Value) -> Result<Value, KeySelectionError> + Send + Sync;

/// Where the key data comes from.
pub(crate) enum KeySource {
    Path(Expression),
    Function(Arc<KeyFn>),
}

impl KeySource {
    /// The key data of `payload`, borrowed from it where the path allows.
    pub(crate) fn select<'a>(
        &self,
        payload: &'a Value,
    ) -> Result<Cow<'a, Value>, KeySelectionError> {
        match self {
            Self::Path(expression) => Ok(expression.search_ref(payload)?),
            Self::Function(f) => f(payload).map(Cow::Owned),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Path(expression) => expression.as_str().to_owned(),
            Self::Function(_) => "<key function>".to_owned(),
        }
    }
}

/// Whether the selected key data means "no key": Powertools for Python's
/// `is_missing_idempotency_key`. Null, an empty string, an empty object, and a list that is empty
/// or holds only nulls are missing; a number or a boolean never is (`0` and `false` are keys); a
/// non-empty object never is (Python iterates its keys, which are never null).
pub(crate) fn is_missing_key(data: &Value) -> bool {
    match data {
        Value::Null => true,
        Value::Bool(_) | Value::Number(_) => false,
        Value::String(s) => s.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.iter().all(Value::is_null),
    }
}

/// Whether the selected key data means "no key" to Powertools for TypeScript
/// (`isMissingIdempotencyKey`): a falsy value (`null`, `false`, `0`, `""`), or an object or
/// list none of whose values is truthy (`{}`, `[]`, `[null, 0]`).
pub(crate) fn is_missing_key_typescript(data: &Value) -> bool {
    fn truthy(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }
    match data {
        Value::Array(items) => !items.iter().any(truthy),
        Value::Object(map) => !map.values().any(truthy),
        other => !truthy(other),
    }
}

#[cfg(test)]
mod typescript_tests {
    use super::is_missing_key_typescript;
    use serde_json::json;

    #[test]
    fn falsy_data_and_containers_of_falsy_values_are_missing_to_typescript() {
        for missing in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
            json!([null, 0, "", false]),
            json!({"a": 0, "b": null}),
        ] {
            assert!(is_missing_key_typescript(&missing), "{missing}");
        }
        for present in [
            json!(1),
            json!("x"),
            json!(true),
            json!([0, 1]),
            json!({"a": []}),
            json!([{}]),
        ] {
            assert!(!is_missing_key_typescript(&present), "{present}");
        }
    }
}
