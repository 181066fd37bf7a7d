//! Checks X-Ray daemon datagrams: the `{"format":"json","version":1}` header line, then a
//! subsegment document valid against `schemas/xray-subsegment.json` (a sent subsegment must
//! carry `type`, `trace_id` and, in Lambda, `parent_id`), the whole datagram at most
//! [`MAX_DATAGRAM`] bytes.

use std::sync::OnceLock;

use serde_json::Value;

use crate::HarnessError;

/// The largest UDP payload over IPv4 (65,535 - 8 bytes of UDP header - 20 of IPv4 header):
/// the most one datagram (header line, newline and document) can hold.
pub const MAX_DATAGRAM: usize = 65_507;

/// The schema, as kept in `schemas/xray-subsegment.json`.
pub const SCHEMA: &str = include_str!("../schemas/xray-subsegment.json");

fn validator() -> Result<&'static jsonschema::Validator, HarnessError> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    crate::schema::load(&VALIDATOR, SCHEMA, "X-Ray")
}

/// Every one of `datagrams` checked ([`check_datagram`]): the documents, or the first fault.
pub fn check_all(datagrams: &[Vec<u8>]) -> Result<Vec<Value>, HarnessError> {
    datagrams.iter().map(|d| check_datagram(d)).collect()
}

/// Every subsegment named `name` in `documents` (checked datagrams) and, at any depth, in their
/// nested `subsegments`.
pub fn find_named<'a>(documents: &'a [Value], name: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    let mut stack: Vec<&Value> = documents.iter().rev().collect();
    while let Some(document) = stack.pop() {
        if document["name"] == name {
            found.push(document);
        }
        if let Some(children) = document["subsegments"].as_array() {
            stack.extend(children.iter().rev());
        }
    }
    found
}

/// Checks one datagram as the daemon receives it; returns the document.
pub fn check_datagram(datagram: &[u8]) -> Result<Value, HarnessError> {
    let invalid = HarnessError::InvalidDocument;
    if datagram.len() > MAX_DATAGRAM {
        return Err(invalid(format!(
            "datagram of {} bytes is over the {MAX_DATAGRAM}-byte IPv4 UDP payload limit",
            datagram.len()
        )));
    }
    let text = std::str::from_utf8(datagram).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
    let (header, body) = text
        .split_once('\n')
        .ok_or_else(|| invalid(format!("no header line: {text}")))?;
    let header: Value =
        serde_json::from_str(header).map_err(|e| invalid(format!("header is not JSON: {e}")))?;
    if header != serde_json::json!({"format": "json", "version": 1}) {
        return Err(invalid(format!("unexpected header {header}")));
    }
    let document: Value = serde_json::from_str(body)
        .map_err(|e| invalid(format!("document is not JSON ({e}): {body}")))?;
    let errors: Vec<String> = validator()?
        .iter_errors(&document)
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(invalid(format!("X-Ray schema: {errors:?} in {body}")));
    }
    for required in ["type", "trace_id", "parent_id"] {
        if document.get(required).is_none() {
            return Err(invalid(format!(
                "a sent subsegment needs {required:?}: {body}"
            )));
        }
    }
    Ok(document)
}
