//! Why a parameter could not be read.

/// An error reading a parameter; every variant names the parameter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParameterError {
    /// The backend has no such parameter.
    #[error("parameter {name:?} was not found")]
    NotFound {
        /// The parameter.
        name: String,
    },
    /// The function's role may not read it.
    #[error(
        "access to parameter {name:?} was denied: grant the function's role the read action on it (see the crate docs for the IAM actions)"
    )]
    AccessDenied {
        /// The parameter.
        name: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend failed (throttled, unreachable, ...).
    #[error("reading parameter {name:?} failed: {source}")]
    Backend {
        /// The parameter.
        name: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The value could not be read as asked (not JSON, not base64, ...).
    #[error("parameter {name:?} could not be read as {to}: {reason}")]
    Transform {
        /// The parameter.
        name: String,
        /// What it was read as.
        to: &'static str,
        /// Why it failed (never the value itself).
        reason: String,
    },
    /// The provider cannot list the values under a path.
    #[error("the provider cannot list the values under {name:?}")]
    Unsupported {
        /// The path.
        name: String,
    },
}

impl ParameterError {
    pub(crate) fn not_found(name: &str) -> Self {
        Self::NotFound {
            name: name.to_owned(),
        }
    }

    pub(crate) fn transform(name: &str, to: &'static str, reason: String) -> Self {
        Self::Transform {
            name: name.to_owned(),
            to,
            reason,
        }
    }

    /// Whether this is a backend failure (which stale-if-error may paper over).
    pub fn is_backend_failure(&self) -> bool {
        matches!(self, Self::Backend { .. })
    }
}
