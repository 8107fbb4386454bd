//! Retry-queue messages and dead letters (interface §4 "Retry", §6 `dlq list`).
//! Neither ever carries a secret: stream credentials are looked up at send time.

use serde::{Deserialize, Serialize};

use super::event::Event;

/// One failed delivery attempt of a stream batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// RFC 3339 UTC.
    pub at: String,
    /// HTTP status, or null for timeouts and connection errors.
    pub status: Option<u16>,
    pub error: String,
}

/// A stream batch waiting for redelivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryMessage {
    pub workspace_id: String,
    pub stream: String,
    pub moe_request_id: String,
    pub events: Vec<Event>,
    pub attempts: Vec<Attempt>,
}

/// A batch that exhausted its retries (or could not be delivered at all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub workspace_id: String,
    pub stream: String,
    pub moe_request_id: String,
    pub events: Vec<Event>,
    pub attempts: Vec<Attempt>,
    pub reason: String,
}
