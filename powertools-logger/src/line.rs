//! One log line as ordered keys, for the formatter hook.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A log line as its top-level keys in the order they are written, for
/// [`LoggerBuilder::formatter`](crate::LoggerBuilder::formatter).
///
/// The order is kept whatever `serde_json`'s features (a `serde_json::Map` would sort its keys
/// unless the `preserve_order` feature is on, which this crate does not force on your build).
/// Values are `serde_json::Value`s.
///
/// ```
/// use powertools_logger::LogLine;
/// use serde_json::json;
///
/// let mut line: LogLine = serde_json::from_str(r#"{"level":"INFO","message":"hi","b":1}"#)?;
/// line.insert("a", json!(2));
/// line.remove("b");
/// assert_eq!(line.get("message"), Some(&json!("hi")));
/// assert_eq!(serde_json::to_string(&line)?, r#"{"level":"INFO","message":"hi","a":2}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogLine {
    entries: Vec<(String, Value)>,
}

impl LogLine {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, to change it in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether the line has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`: replaced in place when present (keeping its position, returning the old
    /// value), else added last.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1)
    }

    /// Keeps only the keys for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// The keys and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the line has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Serialize for LogLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LogLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LineVisitor;

        impl<'de> Visitor<'de> for LineVisitor {
            type Value = LogLine;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<LogLine, A::Error> {
                let mut line = LogLine::default();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    line.insert(key, value);
                }
                Ok(line)
            }
        }

        deserializer.deserialize_map(LineVisitor)
    }
}
