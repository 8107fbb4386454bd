//! A failed invocation as Lambda reports it: an `errorType` per kind of
//! failure (what CloudWatch, X-Ray and mParticle see) and a message without
//! internals.

use lambda_runtime::Diagnostic;

use crate::error::RequestError;

#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    #[error("{function} does not accept {kind} invocations")]
    Unsupported {
        function: &'static str,
        kind: &'static str,
    },
    #[error("unreadable invocation payload: {0}")]
    InvalidInvocation(String),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("cannot encode the response: {0}")]
    Encode(#[from] serde_json::Error),
}

impl FunctionError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } => "UnsupportedInvocation",
            Self::InvalidInvocation(_) => "InvalidInvocation",
            Self::Request(RequestError::BadRequest(_) | RequestError::PayloadTooLarge { .. }) => {
                "InvalidRequest"
            }
            Self::Request(RequestError::Unauthorized | RequestError::Stale(_)) => "Unauthorized",
            Self::Request(RequestError::NotFound(_)) => "NotFound",
            Self::Request(RequestError::RateLimited { .. }) => "RateLimited",
            Self::Request(RequestError::Store(e)) if e.is_backend_failure() => "StoreUnavailable",
            Self::Request(RequestError::Store(_) | RequestError::Internal(_)) | Self::Encode(_) => {
                "InternalError"
            }
        }
    }
}

/// A failed invocation in the log: ERROR when engage-bridge or its store
/// failed, WARN when the invocation was wrong.
pub fn log(error: &FunctionError) {
    let error_type = error.error_type();
    match error {
        FunctionError::Request(RequestError::Store(_) | RequestError::Internal(_))
        | FunctionError::Encode(_) => {
            tracing::error!(error_type, error = %error, "invocation failed")
        }
        _ => tracing::warn!(error_type, error = %error, "invocation refused"),
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(error: FunctionError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
