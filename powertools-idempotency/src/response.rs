//! How a handler's response is stored in a record's `data` and read back.

use std::borrow::Cow;
use std::io::{Read, Write};

use base64::Engine as _;
use serde::de::DeserializeOwned;

/// How a stored response that was compressed to fit begins: gzip, then standard base64. JSON
/// never begins with `g`, so a plain response cannot be mistaken for one.
const COMPRESSED_PREFIX: &str = "gzip+base64:";

/// The default largest stored response: DynamoDB's 400 KB item limit less room for the key and
/// the other attributes.
pub(crate) const DEFAULT_MAX_STORED_RESPONSE_BYTES: usize = 400 * 1024 - 8 * 1024;

/// The most a compressed stored response may inflate to (a record written elsewhere cannot make
/// a replay exhaust memory).
const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Why JSON did not read as the handler's output type, by kind and position only.
#[derive(Debug, thiserror::Error)]
#[error("{kind} (at line {line}, column {column})")]
pub(crate) struct ReadError {
    kind: &'static str,
    line: usize,
    column: usize,
}

/// Why a response is not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    #[error("it cannot be written as JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("it could not be read back as the handler's output type: {0}")]
    NotReadBack(#[source] ReadError),
    #[error("it could not be compressed: {0}")]
    Compression(#[source] std::io::Error),
    #[error("{json} bytes of JSON, {compressed} compressed, over the {max} bytes a record holds")]
    TooLarge {
        json: usize,
        compressed: usize,
        max: usize,
    },
}

/// Why a stored response's `data` is not readable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("not base64: {0}")]
    NotBase64(#[source] base64::DecodeError),
    #[error("not gzip-compressed JSON: {0}")]
    NotGzip(#[source] std::io::Error),
    #[error("it inflates to more than {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLarge,
}

/// Reads a stored response's JSON as the handler's output type: what a replay does, and what
/// a response must survive before it is stored.
///
/// The error is described by its kind and position, never by serde's message, which quotes
/// the data (`invalid type: string "..."`, `unknown variant ...`): a response may hold what
/// must not reach logs or the Lambda `errorMessage`.
pub(crate) fn read_response<R: DeserializeOwned>(json: &str) -> Result<R, ReadError> {
    serde_json::from_str(json).map_err(|e| ReadError {
        kind: match e.classify() {
            serde_json::error::Category::Io => "a read error",
            serde_json::error::Category::Syntax => "not valid JSON, or nested too deep",
            serde_json::error::Category::Data => "JSON of another shape or type",
            serde_json::error::Category::Eof => "JSON cut short",
        },
        line: e.line(),
        column: e.column(),
    })
}

/// The `data` a response of type `R` is stored as: its JSON when it fits in `max` bytes, else
/// its JSON compressed when that fits; an error when it cannot be stored or could not be read
/// back as `R`.
pub(crate) fn encode_response<R: serde::Serialize + DeserializeOwned>(
    response: &R,
    max: usize,
) -> Result<String, EncodeError> {
    let json = serde_json::to_string(response).map_err(EncodeError::NotJson)?;
    // What does not read back as `R` could never be replayed: JSON nested deeper than
    // serde_json reads (128 levels), a NaN or infinity written as `null` where `R` holds an
    // `f64`, serde attributes that do not mirror each other.
    read_response::<R>(&json).map_err(EncodeError::NotReadBack)?;
    fit_json(json, max)
}

/// `json` when it fits in `max` bytes, else its compressed form when that fits.
pub(crate) fn fit_json(json: String, max: usize) -> Result<String, EncodeError> {
    if json.len() <= max {
        return Ok(json);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = encoder
        .write_all(json.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(EncodeError::Compression)?;
    let encoded = format!(
        "{COMPRESSED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(compressed)
    );
    if encoded.len() <= max {
        Ok(encoded)
    } else {
        Err(EncodeError::TooLarge {
            json: json.len(),
            compressed: encoded.len(),
            max,
        })
    }
}

/// The JSON of a stored response (see [`encode_response`]).
/// Whether `data` is the compressed form.
pub(crate) fn is_compressed(data: &str) -> bool {
    data.starts_with(COMPRESSED_PREFIX)
}

pub(crate) fn decode_response(data: &str) -> Result<Cow<'_, str>, DecodeError> {
    let Some(encoded) = data.strip_prefix(COMPRESSED_PREFIX) else {
        return Ok(Cow::Borrowed(data));
    };
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(DecodeError::NotBase64)?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_string(&mut json)
        .map_err(DecodeError::NotGzip)?;
    if json.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(Cow::Owned(json))
}
