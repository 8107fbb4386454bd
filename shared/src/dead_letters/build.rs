//! Every dead letter is built here, with its reason from one closed set
//! (docs/rules/retry.md "Dead letters"; docs/architecture.md "Poison
//! messages"): stream batches that exhausted their retries or can never be
//! delivered, and queue messages no handler could complete.

use crate::domain::{Attempt, DeadBatch, DeadLetter, DeadMessage, Event};
use crate::topology::QueueName;

/// Why something was dead-lettered; kept as its text (the wire format's
/// `reason`), so an operator reads it in `dlq list`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The retry schedule is spent; the last attempt failed so.
    #[error("gave up after {retries} retries: {last_error}")]
    GaveUp { retries: usize, last_error: String },
    /// The receiver refused these events themselves (e.g. Amplitude's 400
    /// naming invalid fields): sending them again cannot help.
    #[error("{0}")]
    Rejected(String),
    /// One event is larger than a request to the stream may be.
    #[error("the event is larger than one request may be ({max_bytes} bytes)")]
    EventTooLarge { max_bytes: usize },
    /// The receiver answered 413 for a single event.
    #[error("the receiver answered 413 for a single event")]
    ReceiverTooLarge,
    #[error("workspace {0:?} is not configured")]
    WorkspaceNotConfigured(String),
    #[error("stream {stream:?} of workspace {workspace:?} is no longer configured")]
    StreamNotConfigured { workspace: String, stream: String },
    /// SQS's redrive policy moved it to the redrive queue.
    #[error("moved aside by the queue after repeated handler failures")]
    Redriven,
    #[error(
        "received {receives} times without completing (its handler crashed or timed out each time)"
    )]
    NeverCompleted { receives: u32 },
    #[error("unreadable {queue} message: {error}")]
    Unreadable { queue: QueueName, error: String },
    #[error("failed on each of {receives} receives; last error: {last_error}")]
    FailedEveryReceive { receives: u32, last_error: String },
    /// The handler found it can never succeed.
    #[error("{0}")]
    Unprocessable(String),
}

/// Whose batch a dead letter is.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub workspace_id: &'a str,
    /// Empty for a batch no stream was chosen for.
    pub stream: &'a str,
}

/// A stream batch given up on, with every attempt made.
pub fn batch(
    owner: Owner<'_>,
    moe_request_id: String,
    events: Vec<Event>,
    attempts: Vec<Attempt>,
    reason: Reason,
) -> DeadLetter {
    DeadLetter::Batch(DeadBatch {
        workspace_id: owner.workspace_id.to_owned(),
        stream: owner.stream.to_owned(),
        moe_request_id,
        events,
        attempts,
        reason: reason.to_string(),
    })
}

/// A queue message given up on, kept as it was received.
pub fn message(queue: QueueName, body: String, receive_count: u32, reason: Reason) -> DeadLetter {
    DeadLetter::Message(DeadMessage {
        queue,
        body,
        reason: reason.to_string(),
        receive_count,
    })
}
