//! Compiling a JSON Schema kept in this crate, once.

use std::sync::OnceLock;

use serde_json::Value;

use crate::HarnessError;

/// The validator for `schema` in `cell`, compiled on first use.
pub(crate) fn load(
    cell: &'static OnceLock<Result<jsonschema::Validator, String>>,
    schema: &str,
    name: &str,
) -> Result<&'static jsonschema::Validator, HarnessError> {
    cell.get_or_init(|| {
        let schema: Value = serde_json::from_str(schema).map_err(|e| e.to_string())?;
        jsonschema::validator_for(&schema).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| HarnessError::InvalidDocument(format!("the {name} schema itself is invalid: {e}")))
}
