//! Mapping AWS SDK errors: not found, access denied, and every other backend failure.
//!
//! The SDK's error keeps the raw HTTP response, and its `Debug` prints the body: for a response
//! the SDK could not parse (a truncated `GetSecretValue`, say) that body is the value itself. The
//! source kept in a [`ParameterError`] is therefore the service's error alone, never the raw
//! response.

use std::error::Error;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::ParameterError;

type Source = Box<dyn Error + Send + Sync>;

/// Classifies a backend failure by its error code.
pub(crate) fn classify(name: &str, source: Source, code: Option<&str>) -> ParameterError {
    match code {
        Some("ParameterNotFound" | "ResourceNotFoundException" | "ParameterVersionNotFound") => {
            ParameterError::NotFound {
                name: name.to_owned(),
            }
        }
        Some("AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException") => {
            ParameterError::AccessDenied {
                name: name.to_owned(),
                source,
            }
        }
        _ => ParameterError::Backend {
            name: name.to_owned(),
            source,
        },
    }
}

/// Maps any SDK error for `name` (by its error code) to a [`ParameterError`].
pub(crate) fn sdk_error<E>(
    name: &str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> ParameterError + '_
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    move |error| {
        let code = error.code().map(str::to_owned);
        classify(name, without_response(error), code.as_deref())
    }
}

/// Like [`sdk_error`] for a call that sent a value (`PutParameter`): a service's message may
/// quote what it was sent (`Value '...' at 'value' failed to satisfy constraint`), and the SDK's
/// error shows it escaped (quotes, backslashes and control characters), in forms no search for
/// the value finds. The service's error is therefore always replaced by its error code.
#[cfg(feature = "ssm")]
pub(crate) fn sdk_error_sending<E>(
    name: &str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> ParameterError + '_
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    move |error| {
        let code = error.code().map(str::to_owned);
        let source: Source = match error {
            // Only the service's answer carries a message that may quote the value.
            SdkError::ServiceError(_) => Box::new(Withheld { code: code.clone() }),
            other => without_response(other),
        };
        classify(name, source, code.as_deref())
    }
}

/// The SDK error without the raw HTTP response it holds.
fn without_response<E>(error: SdkError<E, HttpResponse>) -> Source
where
    E: Error + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(context) => Box::new(context.into_err()),
        SdkError::ResponseError(_) => Box::new(Unreadable),
        // Construction, timeout and dispatch failures hold no response.
        other => Box::new(other),
    }
}

/// A response the SDK could not read (its body is not shown: it may be the value).
#[derive(Debug)]
struct Unreadable;

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the response could not be read")
    }
}

impl Error for Unreadable {}

/// A service error to a call that sent a value: its code alone (the message may quote the
/// value).
#[cfg(feature = "ssm")]
#[derive(Debug)]
struct Withheld {
    code: Option<String>,
}

#[cfg(feature = "ssm")]
impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the service's message is withheld (it may quote the value sent)",
            self.code.as_deref().unwrap_or("unknown error")
        )
    }
}

#[cfg(feature = "ssm")]
impl Error for Withheld {}
