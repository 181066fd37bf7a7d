//! Mapping AWS SDK errors: not found, access denied, and every other backend failure.

use crate::error::ParameterError;

/// Classifies an SDK error by its error code.
pub(crate) fn classify<E>(name: &str, error: E, code: Option<&str>) -> ParameterError
where
    E: std::error::Error + Send + Sync + 'static,
{
    match code {
        Some("ParameterNotFound" | "ResourceNotFoundException" | "ParameterVersionNotFound") => {
            ParameterError::NotFound {
                name: name.to_owned(),
            }
        }
        Some("AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException") => {
            ParameterError::AccessDenied {
                name: name.to_owned(),
                source: Box::new(error),
            }
        }
        _ => ParameterError::Backend {
            name: name.to_owned(),
            source: Box::new(error),
        },
    }
}

/// Maps any SDK error for `name` (by its error code) to a [`ParameterError`].
pub(crate) fn sdk_error<E>(name: &str) -> impl FnOnce(E) -> ParameterError + '_
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    move |error| {
        let code = error.code().map(str::to_owned);
        classify(name, error, code.as_deref())
    }
}
