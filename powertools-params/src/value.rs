//! Values as providers return them, what they are transformed into, and secrets.

use std::fmt;

use base64::Engine as _;
use serde::de::DeserializeOwned;

use crate::error::ParameterError;

/// A value as the backend holds it.
#[derive(Clone, PartialEq, Eq)]
pub enum RawValue {
    /// Text (SSM parameters, `SecretString`, UTF-8 AppConfig bodies, DynamoDB strings and
    /// numbers).
    Text(String),
    /// Bytes (`SecretBinary`, AppConfig bodies that are not UTF-8, DynamoDB binary).
    Binary(Vec<u8>),
}

impl fmt::Debug for RawValue {
    /// Never shows the value: it may be a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text(<{} bytes>)", t.len()),
            Self::Binary(b) => write!(f, "Binary(<{} bytes>)", b.len()),
        }
    }
}

/// How a value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transform {
    /// As text.
    Text,
    /// As JSON.
    Json,
    /// As base64-encoded bytes (binary values are taken as they are).
    Binary,
    /// By the name's suffix: `.json` is JSON, `.binary` is base64 bytes, anything else text.
    Auto,
}

/// A transformed value.
#[derive(Clone, PartialEq)]
pub enum Transformed {
    /// Text.
    Text(String),
    /// Parsed JSON.
    Json(serde_json::Value),
    /// Bytes.
    Binary(Vec<u8>),
}

impl fmt::Debug for Transformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text(<{} bytes>)", t.len()),
            Self::Json(_) => f.write_str("Json(<value>)"),
            Self::Binary(b) => write!(f, "Binary(<{} bytes>)", b.len()),
        }
    }
}

impl RawValue {
    pub(crate) fn text(&self, name: &str) -> Result<String, ParameterError> {
        match self {
            Self::Text(t) => Ok(t.clone()),
            Self::Binary(b) => String::from_utf8(b.clone())
                .map_err(|e| ParameterError::transform(name, "text", utf8_reason(e.utf8_error()))),
        }
    }

    pub(crate) fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, ParameterError> {
        // Parsed where it lies: no copy of the text.
        let text = match self {
            Self::Text(t) => t.as_str(),
            Self::Binary(b) => std::str::from_utf8(b)
                .map_err(|e| ParameterError::transform(name, "text", utf8_reason(e)))?,
        };
        serde_json::from_str(text).map_err(|e| {
            ParameterError::transform(name, "JSON", json_reason(&e, std::any::type_name::<T>()))
        })
    }

    pub(crate) fn binary(&self, name: &str) -> Result<Vec<u8>, ParameterError> {
        match self {
            Self::Binary(b) => Ok(b.clone()),
            Self::Text(t) => base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .map_err(|e| ParameterError::transform(name, "base64", base64_reason(&e))),
        }
    }

    pub(crate) fn transform(
        &self,
        name: &str,
        transform: Transform,
    ) -> Result<Transformed, ParameterError> {
        let transform = match transform {
            Transform::Auto if name.ends_with(".json") => Transform::Json,
            Transform::Auto if name.ends_with(".binary") => Transform::Binary,
            Transform::Auto => Transform::Text,
            other => other,
        };
        Ok(match transform {
            Transform::Json => Transformed::Json(self.json(name)?),
            Transform::Binary => Transformed::Binary(self.binary(name)?),
            _ => Transformed::Text(self.text(name)?),
        })
    }
}

// Why a value could not be transformed, in words that never quote the value. The libraries'
// own messages do: serde's name the unexpected value (`invalid type: string "hunter2",
// expected u32`, `unknown variant`, `unknown field`, `invalid value: integer`), base64's the
// offending byte. Only their category and position are kept, never the error itself.

fn json_reason(error: &serde_json::Error, target: &str) -> String {
    use serde_json::error::Category;
    let (line, column) = (error.line(), error.column());
    match error.classify() {
        Category::Syntax => {
            format!("the value is not valid JSON (syntax error at line {line}, column {column})")
        }
        Category::Eof => {
            format!("the value is not valid JSON (it ends early, at line {line}, column {column})")
        }
        Category::Data => format!(
            "the value is JSON but does not fit the target type {target} (data error at line {line}, column {column})"
        ),
        Category::Io => "the value could not be read".to_owned(),
    }
}

fn base64_reason(error: &base64::DecodeError) -> String {
    match error {
        base64::DecodeError::InvalidByte(offset, _) => {
            format!("the value is not base64 (a character outside the alphabet at offset {offset})")
        }
        base64::DecodeError::InvalidLength(length) => {
            format!("the value is not base64 (a length of {length} symbols is not valid)")
        }
        base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("the value is not base64 (an invalid last symbol at offset {offset})")
        }
        base64::DecodeError::InvalidPadding => {
            "the value is not base64 (invalid padding)".to_owned()
        }
    }
}

fn utf8_reason(error: std::str::Utf8Error) -> String {
    format!(
        "the value is not UTF-8 text (an invalid byte sequence at offset {})",
        error.valid_up_to()
    )
}

/// A secret: its `Debug` and `Display` never show the value; read it with
/// [`Secret::expose`].
///
/// ```
/// use powertools_params::Secret;
///
/// let password = Secret::new("hunter2".to_owned());
/// assert_eq!(format!("{password:?}"), "Secret(*****)");
/// assert_eq!(password.to_string(), "*****");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value. Keep it out of logs, traces and error messages.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(*****)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}
