//! Retry-queue messages and dead letters (docs/interface/events.md). Neither
//! ever carries a secret: stream credentials are looked up at send time.

use serde::{Deserialize, Serialize};

use super::event::Event;
use crate::topology::QueueName;

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
