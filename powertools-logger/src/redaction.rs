//! Redaction of configured keys, at any depth of any value.

use serde_json::Value;

use crate::value::{MAX_JSON_DEPTH, raw_depth, too_deep_note};

/// Redaction of configured keys, at any depth.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redaction {
    keys: Vec<String>,
}

pub(crate) const REDACTED: &str = "*****";

impl Redaction {
    pub(crate) fn new(keys: impl IntoIterator<Item = String>) -> Self {
        let mut keys: Vec<String> = keys.into_iter().map(|k| k.to_ascii_lowercase()).collect();
        keys.sort();
        keys.dedup();
        Self { keys }
    }

    pub(crate) fn is_active(&self) -> bool {
        !self.keys.is_empty()
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        self.is_active() && self.keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// Redacts matching keys inside `value`, in place (iteratively: no recursion limit).
    pub(crate) fn apply(&self, value: &mut Value) {
        if !self.is_active() {
            return;
        }
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(map) => {
                    for (k, child) in map.iter_mut() {
                        if self.matches(k) {
                            *child = Value::String(REDACTED.to_owned());
                        } else {
                            stack.push(child);
                        }
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                _ => {}
            }
        }
    }
}

/// Text with JSON that could not be written as JSON, made safe to write as a string: with the
/// redacted keys' values replaced, or, when it cannot be read to find them, none of it.
pub(crate) fn redacted_text(text: &str, redaction: &Redaction) -> String {
    if !redaction.is_active() {
        return text.to_owned();
    }
    if raw_depth(text) <= MAX_JSON_DEPTH
        && let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text)
    {
        redaction.apply(&mut value);
        return value.to_string();
    }
    // JSON inside another value's Debug: whether a redacted key is in it cannot be told
    // without parsing Debug output, so none of it is written.
    if raw_depth(text) > MAX_JSON_DEPTH {
        too_deep_note()
    } else {
        "<value not written: it embeds JSON inside another value, which redaction cannot check; log the Json value itself>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_reaches_any_depth_and_ignores_case() {
        let r = Redaction::new(["password".to_owned(), "Authorization".to_owned()]);
        let mut v =
            json!({"user": {"Password": "p", "list": [{"authorization": "Bearer x"}]}, "ok": 1});
        r.apply(&mut v);
        assert_eq!(
            v,
            json!({"user": {"Password": REDACTED, "list": [{"authorization": REDACTED}]}, "ok": 1})
        );
    }

    #[test]
    fn redaction_of_deeply_nested_values_does_not_overflow() {
        let mut v = Value::String("leaf".into());
        for _ in 0..10_000 {
            v = Value::Array(vec![v]);
        }
        Redaction::new(["x".to_owned()]).apply(&mut v);
        // Drop iteratively too: serde_json's recursive drop would overflow on such a value.
        let mut stack = vec![v];
        while let Some(mut value) = stack.pop() {
            if let Value::Array(items) = &mut value {
                stack.append(items);
            }
        }
    }
}
