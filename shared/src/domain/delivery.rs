//! Retry-queue messages and dead letters (docs/interface/events.md). Neither
//! ever carries a secret: stream credentials are looked up at send time.

use serde::{Deserialize, Serialize};

use super::event::Event;
use crate::topology::QueueName;

/// One failed delivery attempt of a stream batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    /// RFC 3339 UTC.
    pub at: String,
    /// HTTP status, or null for timeouts and connection errors.
    pub status: Option<u16>,
    pub error: String,
    /// What kind of failure it was, while the attempt is fresh (the metrics'
    /// `status` label and the refused-destination log line decide on it).
    /// Not part of the wire format: queued and kept attempts say it in
    /// `error` (docs/interface/events.md).
    #[serde(skip)]
    pub kind: FailureKind,
}

/// The kinds of failed attempt (docs/interface/observability.md, the
/// `status` label of `engage_bridge_delivery_attempts_failed_total`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureKind {
    /// The receiver answered with a status that fails the request.
    Answered,
    /// The destination guard refused the address.
    RefusedDestination,
    Timeout,
    /// No connection could be made (refused, reset, DNS).
    Connection,
    /// Not sent: the stream's circuit breaker is open.
    CircuitOpen,
    /// Not sent: no OAuth 2.0 token could be had from the token endpoint.
    TokenEndpoint,
    /// Anything else, and every attempt read back from a queue or store.
    #[default]
    Other,
}

impl FailureKind {
    /// The `status` label of an attempt without an HTTP status.
    pub fn label(self) -> &'static str {
        match self {
            Self::RefusedDestination => "refused_destination",
            Self::Timeout => "timeout",
            Self::CircuitOpen => "circuit_open",
            Self::TokenEndpoint => "token_endpoint",
            Self::Connection => "connection",
            Self::Answered | Self::Other => "error",
        }
    }
}

impl Attempt {
    /// The receiver answered `status`, which fails the request.
    pub fn answered(status: u16, error: impl Into<String>) -> Self {
        Self::stamped(Some(status), error.into(), FailureKind::Answered)
    }

    /// No answer (or none was asked for), of this kind.
    pub fn unanswered(kind: FailureKind, error: impl Into<String>) -> Self {
        Self::stamped(None, error.into(), kind)
    }

    fn stamped(status: Option<u16>, error: String, kind: FailureKind) -> Self {
        Self {
            at: super::time::rfc3339_ms(super::time::now_ms()),
            status,
            error,
            kind,
        }
    }

    /// The `status` label of the metrics: the HTTP status, or the kind.
    pub fn status_label(&self) -> String {
        match self.status {
            Some(status) => status.to_string(),
            None => self.kind.label().to_owned(),
        }
    }
}

/// Attempts are the same when their wire form is: `kind` is not part of it.
impl PartialEq for Attempt {
    fn eq(&self, other: &Self) -> bool {
        (self.at.as_str(), self.status, self.error.as_str())
            == (other.at.as_str(), other.status, other.error.as_str())
    }
}

impl Eq for Attempt {}

/// A stream batch waiting for redelivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryMessage {
    pub workspace_id: String,
    pub stream: String,
    pub moe_request_id: String,
    #[serde(deserialize_with = "super::shared_devices::events")]
    pub events: Vec<Event>,
    pub attempts: Vec<Attempt>,
}

/// What the dead-letter queue holds: stream batches, and queue messages no
/// handler could complete (docs/architecture.md "Poison messages").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeadLetter {
    Batch(DeadBatch),
    Message(DeadMessage),
}

impl DeadLetter {
    pub fn reason(&self) -> &str {
        match self {
            Self::Batch(batch) => &batch.reason,
            Self::Message(message) => &message.reason,
        }
    }
}

/// A stream batch that exhausted its retries (or can never be delivered).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadBatch {
    pub workspace_id: String,
    pub stream: String,
    pub moe_request_id: String,
    pub events: Vec<Event>,
    pub attempts: Vec<Attempt>,
    pub reason: String,
}

/// A message of another queue that was unreadable or failed on every receive,
/// kept as it was so it can be inspected and replayed onto its queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadMessage {
    /// The queue it came from.
    pub queue: QueueName,
    pub body: String,
    pub reason: String,
    /// How often it had been received when it was dead-lettered.
    pub receive_count: u32,
}
