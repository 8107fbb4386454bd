//! Why a store or queue call failed, by kind (docs/architecture.md
//! "Errors"): callers decide on the variant (answer 5xx and let the partner
//! retry, redeliver a message, or give up), never on the message text, and
//! the source error is kept for the log.

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not do it now: unreachable, too slow, throttling
    /// or failing on its side. The same call may succeed later, so a
    /// request is answered 5xx (the partner retries) and a queue message is
    /// delivered again.
    #[error("{detail}")]
    Unavailable {
        kind: Unavailability,
        /// One line an operator can act on (no secrets, no whole chains).
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The backend refused the call itself (access denied, a missing table
    /// or queue, a request it can never take): trying again does not help.
    #[error("{detail}")]
    Refused {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A call the port itself refuses (e.g. a delay beyond the queue's
    /// maximum): a bug in the caller.
    #[error("{0}")]
    Invalid(String),
    /// Stored data could not be decoded (a bug or a manual edit).
    #[error("stored data is corrupt: {detail}")]
    Corrupt {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A value could not be encoded for storage or a queue (a bug).
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("not found: {0}")]
    NotFound(String),
}

/// Why a backend could not do it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailability {
    /// No connection (refused, reset, DNS), or no usable credentials.
    Unreachable,
    /// No answer within the call's timeout.
    Timeout,
    /// The backend asked to slow down (DynamoDB, SQS throttling).
    Throttled,
    /// The backend failed on its side (a 5xx, or an I/O error of SQLite's).
    Failed,
    /// Part of a batch call was left undone after bounded retries
    /// (`UnprocessedItems`, failed batch entries).
    Partial,
    /// Conditional writes kept losing to concurrent writers.
    Contended,
}

impl StoreError {
    pub fn unavailable(
        kind: Unavailability,
        detail: impl Into<String>,
        source: impl Into<Option<BoxError>>,
    ) -> Self {
        Self::Unavailable {
            kind,
            detail: detail.into(),
            source: source.into(),
        }
    }

    /// Stored data that does not decode, with why.
    pub fn corrupt(detail: impl Into<String>) -> Self {
        Self::Corrupt {
            detail: detail.into(),
            source: None,
        }
    }

    /// A decoding error of stored data.
    pub fn corrupt_from(
        detail: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Corrupt {
            detail: format!("{}: {source}", detail.into()),
            source: Some(Box::new(source)),
        }
    }

    /// `map_err(StoreError::encode("a retry message"))`.
    pub fn encode(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| Self::Encode { what, source }
    }

    /// Whether the same call may succeed later (redeliver, answer 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// Whether the backend itself failed the call (rather than engage-bridge
    /// asking for something wrong or finding data it cannot read).
    pub fn is_backend_failure(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Refused { .. })
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
