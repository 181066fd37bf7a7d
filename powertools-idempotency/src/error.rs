//! The errors: what an idempotent call returns instead of the handler's response, and what
//! the builder refuses.

use lambda_runtime::Diagnostic;

use crate::record::StoreError;

/// How many times a claim is tried again when the store and the clock disagree.
pub(crate) const MAX_CLAIM_ATTEMPTS: usize = 3;

/// Why an idempotent call did not return the handler's response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyError<E> {
    /// Another invocation with the same key is running (Lambda `errorType`
    /// `IdempotencyAlreadyInProgressError`): retry later.
    #[error(
        "an invocation with idempotency key {key:?} is already in progress: retry after it completes or its in-progress expiry passes"
    )]
    AlreadyInProgress {
        /// The key.
        key: String,
    },
    /// The stored record was made from a payload that differs in its validated part
    /// (`IdempotencyValidationError`).
    #[error(
        "payload validation failed for idempotency key {key:?}: the validated part of this payload differs from the one already processed"
    )]
    Validation {
        /// The key.
        key: String,
    },
    /// The key path found nothing (or could not be evaluated on the payload) and
    /// `raise_on_no_idempotency_key` is on (`IdempotencyKeyError`).
    #[error(
        "no idempotency key found in the payload at {path:?}: the event does not carry the fields the key is made of"
    )]
    KeyMissing {
        /// The JMESPath expression.
        path: String,
    },
    /// The store failed while claiming the key: the handler did not run
    /// (`IdempotencyPersistenceLayerError`). Once the handler has run, a store failure never
    /// replaces its outcome (see the failure modes in the crate docs).
    #[error("idempotency store failed ({context}): {source}")]
    Persistence {
        /// What was being done.
        context: &'static str,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The event could not be read as JSON, the validation expression failed, or a stored
    /// response could not be read as the handler's output (`IdempotencySerializationError`).
    #[error("idempotency data could not be processed: {0}")]
    Serialization(String),
    /// The store and the clock kept disagreeing about the record (`IdempotencyInconsistentStateError`).
    #[error(
        "idempotency record {key:?} stayed in an inconsistent state after {MAX_CLAIM_ATTEMPTS} attempts"
    )]
    InconsistentState {
        /// The key.
        key: String,
    },
    /// The handler failed; the record was deleted so that a retry runs again.
    #[error("{0}")]
    Handler(E),
}

impl<E> IdempotencyError<E> {
    /// The same error with the handler's error `e` replaced by `f(e)`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn map_handler<E2>(
        self,
        f: impl FnOnce(E) -> IdempotencyError<E2>,
    ) -> IdempotencyError<E2> {
        match self {
            Self::AlreadyInProgress { key } => IdempotencyError::AlreadyInProgress { key },
            Self::Validation { key } => IdempotencyError::Validation { key },
            Self::KeyMissing { path } => IdempotencyError::KeyMissing { path },
            Self::Persistence { context, source } => {
                IdempotencyError::Persistence { context, source }
            }
            Self::Serialization(reason) => IdempotencyError::Serialization(reason),
            Self::InconsistentState { key } => IdempotencyError::InconsistentState { key },
            Self::Handler(error) => f(error),
        }
    }

    /// The stable Lambda `errorType` (the handler's own for [`IdempotencyError::Handler`]).
    pub fn error_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::AlreadyInProgress { .. } => "IdempotencyAlreadyInProgressError",
            Self::Validation { .. } => "IdempotencyValidationError",
            Self::KeyMissing { .. } => "IdempotencyKeyError",
            Self::Persistence { .. } => "IdempotencyPersistenceLayerError",
            Self::Serialization(_) => "IdempotencySerializationError",
            Self::InconsistentState { .. } => "IdempotencyInconsistentStateError",
            Self::Handler(_) => return None,
        })
    }
}

impl<E: Into<Diagnostic> + std::fmt::Display> From<IdempotencyError<E>> for Diagnostic {
    fn from(error: IdempotencyError<E>) -> Self {
        match error.error_type() {
            Some(error_type) => Diagnostic {
                error_type: error_type.to_owned(),
                error_message: error.to_string(),
            },
            None => match error {
                IdempotencyError::Handler(e) => e.into(),
                other => Diagnostic {
                    error_type: "IdempotencyError".to_owned(),
                    error_message: other.to_string(),
                },
            },
        }
    }
}

/// Why the key (or the validated part) could not be selected from a payload: such a payload
/// has no key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySelectionError {
    /// The JMESPath expression failed on the payload (a body that is not JSON, say).
    #[error(transparent)]
    Path(#[from] powertools_jmespath::Error),
    /// The payload is not the type the key function reads.
    #[error("the payload is not the key function's type: {0}")]
    PayloadType(#[source] serde_json::Error),
    /// The key function's key could not be written as JSON.
    #[error("the key function's key cannot be written as JSON: {0}")]
    Key(#[source] serde_json::Error),
}

/// A configuration [`IdempotencyBuilder::build`](crate::IdempotencyBuilder::build) refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyConfigError {
    /// A JMESPath expression does not compile (the error names it).
    #[error("invalid {0}")]
    InvalidPath(#[source] powertools_jmespath::Error),
    /// `expires_after` is zero.
    #[error("expires_after must be at least one second")]
    ZeroExpiry,
    /// The key prefix is empty.
    #[error(
        "the key prefix is empty: leave it unset for <function>.<handler>, or set a non-empty one"
    )]
    EmptyPrefix,
    /// The HTTP key header name is not a valid header field name.
    #[cfg(feature = "http")]
    #[error("invalid HTTP key header name {0:?}")]
    InvalidHeaderName(String),
    /// A shared setting (the service name) was refused.
    #[error(transparent)]
    Common(#[from] powertools_core::ConfigError),
}
