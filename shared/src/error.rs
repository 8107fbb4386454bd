//! Why a request was refused, in terms of the request, not of a transport:
//! the HTTP layer turns it into a status and the JSON error body of
//! docs/interface/http.md "Conventions"; Firehose direct invocations into an error
//! object or a failed invocation.

use crate::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Malformed or invalid input; the message names the problem.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials; never says which part was wrong.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// A correctly signed request whose timestamp is outside the accepted
    /// window (a replay): 401, saying so, since the signer holds the key.
    #[error("{0}")]
    Stale(String),
    #[error("{0}")]
    NotFound(String),
    #[error("request body exceeds the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("rate limit exceeded: {limit} requests per {window}; retry after {retry_after_secs} s")]
    RateLimited {
        limit: u64,
        window: &'static str,
        retry_after_secs: u64,
    },
    /// The store failed: answered 500 without its detail (logged at
    /// ERROR), so the partner sends the request again.
    #[error("internal error")]
    Store(#[from] StoreError),
    /// A fault of engage-bridge's own (a bug), named for the log.
    #[error("internal error")]
    Internal(&'static str),
}

impl RequestError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// The HTTP status this refusal is answered with (docs/interface/http.md
    /// "Errors"); Firehose direct invocations report it as `status_code`.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized | Self::Stale(_) => 401,
            Self::NotFound(_) => 404,
            Self::PayloadTooLarge { .. } => 413,
            Self::RateLimited { .. } => 429,
            Self::Store(_) | Self::Internal(_) => 500,
        }
    }

    /// What a 5xx answer leaves out of its body, for the ERROR line.
    pub fn internal_detail(&self) -> Option<String> {
        match self {
            Self::Store(e) => Some(e.to_string()),
            Self::Internal(what) => Some((*what).to_owned()),
            _ => None,
        }
    }
}

pub type RequestResult<T> = Result<T, RequestError>;
