//! Checks CloudWatch Embedded Metric Format blobs: against a JSON Schema of the EMF
//! specification kept in this crate (`schemas/emf.json`), and against the cross-field rules a
//! schema cannot express (every referenced dimension and metric is a root member, dimension
//! values are non-empty strings, at most 100 values per metric, 256 KB per event, no root key
//! twice, no dimension or metric named `_aws`, no metric defined twice in a directive).
//!
//! ```
//! use powertools_testing::emf;
//!
//! let blob = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Orders","Dimensions":[["service"]],"Metrics":[{"Name":"OrderAccepted","Unit":"Count"}]}]},"service":"orders","OrderAccepted":[1.0]}"#;
//! assert!(emf::check_blob(blob).is_ok());
//! assert!(emf::check_blob(&blob.replace(r#","service":"orders""#, "")).is_err());
//! ```

use std::sync::OnceLock;

use serde_json::Value;

use crate::{CapturedOutput, HarnessError};

/// The schema, as kept in `schemas/emf.json`.
pub const SCHEMA: &str = include_str!("../schemas/emf.json");

fn validator() -> Result<&'static jsonschema::Validator, HarnessError> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    crate::schema::load(&VALIDATOR, SCHEMA, "EMF")
}

fn invalid(message: String) -> HarnessError {
    HarnessError::InvalidDocument(message)
}

/// The root keys of a JSON object in their order, repeats included (`Value` keeps only one).
struct RootKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for RootKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = RootKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RootKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(RootKeys(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Checks one blob (one log line); returns it parsed.
pub fn check_blob(line: &str) -> Result<Value, HarnessError> {
    if line.len() > 256 * 1024 {
        return Err(invalid(format!(
            "EMF blob of {} bytes exceeds the 256 KB event limit",
            line.len()
        )));
    }
    let blob: Value =
        serde_json::from_str(line).map_err(|e| invalid(format!("not JSON ({e}): {line}")))?;
    // `Value` keeps the last of repeated keys: a repeated root key (a second `_aws`, a metric
    // written twice) is found on the raw text.
    let RootKeys(keys) =
        serde_json::from_str(line).map_err(|e| invalid(format!("not a JSON object ({e})")))?;
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    if let Some(repeated) = keys.iter().find(|key| !seen.insert(key.as_str())) {
        return Err(invalid(format!(
            "root key {repeated:?} appears twice in {line}"
        )));
    }
    let errors: Vec<String> = validator()?
        .iter_errors(&blob)
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(invalid(format!("EMF schema: {errors:?} in {line}")));
    }
    for directive in blob["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            for key in set.as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                if key == "_aws" {
                    return Err(invalid("a dimension is named \"_aws\"".to_owned()));
                }
                match blob.get(key) {
                    Some(Value::String(v))
                        if !v.trim().is_empty() && v.len() <= 1024 && v.is_ascii() => {}
                    other => {
                        return Err(invalid(format!(
                            "dimension {key:?} is not a root member holding 1 to 1024 ASCII characters: {other:?}"
                        )));
                    }
                }
            }
        }
        let mut defined = std::collections::HashSet::new();
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let name = metric["Name"].as_str().unwrap_or_default();
            if name == "_aws" {
                return Err(invalid("a metric is named \"_aws\"".to_owned()));
            }
            if !defined.insert(name) {
                return Err(invalid(format!(
                    "metric {name:?} is defined twice in one directive"
                )));
            }
            match blob.get(name) {
                Some(Value::Array(values))
                    if !values.is_empty()
                        && values.len() <= 100
                        && values.iter().all(Value::is_number) => {}
                Some(Value::Number(_)) => {}
                other => {
                    return Err(invalid(format!(
                        "metric {name:?} is not a root member holding a number or 1 to 100 numbers: {other:?}"
                    )));
                }
            }
        }
    }
    Ok(blob)
}

/// Every line of `captured` that is an EMF blob (has an `_aws` key), each checked.
pub fn blobs(captured: &CapturedOutput) -> Result<Vec<Value>, HarnessError> {
    blobs_in(&captured.lines())
}

/// Every one of `lines` that is an EMF blob (has an `_aws` key), each checked: for a function's
/// stdout (`Stopped::stdout`).
pub fn blobs_in(lines: &[String]) -> Result<Vec<Value>, HarnessError> {
    lines
        .iter()
        .filter(|line| line.contains("\"_aws\""))
        .map(|line| check_blob(line))
        .collect()
}
