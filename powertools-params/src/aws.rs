//! Mapping AWS SDK errors: not found, access denied, and every other backend failure.
//!
//! The SDK's error keeps the raw HTTP response, and its `Debug` prints the body: for a response
//! the SDK could not parse (a truncated `GetSecretValue`, say) that body is the value itself. The
//! source kept in a [`ParameterError`] is therefore the service's error alone, never the raw
//! response.

use std::error::Error;
#[cfg(feature = "ssm")]
use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::ParameterError;

type Source = Box<dyn Error + Send + Sync>;

/// What every AWS SDK service error of the providers is.
pub(crate) trait ServiceError: ProvideErrorMetadata + Error + Send + Sync + 'static {}

impl<E: ProvideErrorMetadata + Error + Send + Sync + 'static> ServiceError for E {}

/// Classifies a backend failure by its error code.
pub(crate) fn classify(name: &str, source: Source, code: Option<&str>) -> ParameterError {
    match code {
        Some("ParameterNotFound" | "ResourceNotFoundException" | "ParameterVersionNotFound") => {
            ParameterError::not_found(name)
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
pub(crate) fn sdk_error<E: ServiceError>(
    name: &str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> ParameterError + '_ {
    move |error| parameter_error(name, error, false)
}

/// Like [`sdk_error`] for a call that sent a value (`PutParameter`): a service's message may
/// quote what it was sent (`Value '...' at 'value' failed to satisfy constraint`), and the SDK's
/// error shows it escaped (quotes, backslashes and control characters), in forms no search for
/// the value finds. The service's error is therefore always replaced by its error code.
#[cfg(feature = "ssm")]
pub(crate) fn sending_error<E: ServiceError>(
    name: &str,
    error: SdkError<E, HttpResponse>,
) -> ParameterError {
    parameter_error(name, error, true)
}

/// `error` for `name`, without the raw response, and with only the error code of the
/// service's answer when the call `sent_a_value`.
fn parameter_error<E: ServiceError>(
    name: &str,
    error: SdkError<E, HttpResponse>,
    sent_a_value: bool,
) -> ParameterError {
    let code = error.code().map(str::to_owned);
    let source: Source = match error {
        // Only the service's answer carries a message that may quote the value.
        SdkError::ServiceError(_) if sent_a_value => Box::new(Withheld { code: code.clone() }),
        other => without_response(other),
    };
    classify(name, source, code.as_deref())
}

/// Maps one SDK error to the same [`ParameterError`] for each of `names` (a call that read
/// several at once): each error's source is the one SDK error, shared.
#[cfg(feature = "ssm")]
pub(crate) fn sdk_error_for_each<'n, E: ServiceError>(
    names: impl IntoIterator<Item = &'n str>,
    error: SdkError<E, HttpResponse>,
) -> Vec<(String, ParameterError)> {
    let code = error.code().map(str::to_owned);
    let shared = Shared(Arc::from(without_response(error)));
    names
        .into_iter()
        .map(|name| {
            let source: Source = Box::new(shared.clone());
            (name.to_owned(), classify(name, source, code.as_deref()))
        })
        .collect()
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

/// One error shared as the source of several (one failed call for several names).
#[cfg(feature = "ssm")]
#[derive(Debug, Clone)]
struct Shared(Arc<dyn Error + Send + Sync>);

#[cfg(feature = "ssm")]
impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "ssm")]
impl Error for Shared {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
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
#[derive(Debug)]
struct Withheld {
    code: Option<String>,
}

impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the service's message is withheld (it may quote the value sent)",
            self.code.as_deref().unwrap_or("unknown error")
        )
    }
}

impl Error for Withheld {}
