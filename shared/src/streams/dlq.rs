//! The dead-letter workflow (docs/rules/retry.md "Listing and replaying"):
//! list dead letters, and replay them for immediate delivery (they then go
//! through the retries again).
//! Works on any Queue: it receives everything, then makes what it keeps
//! visible again, so no SQS-only feature (StartMessageMoveTask) is needed.

use std::time::Duration;

use serde::Serialize;

use super::dispatch::dead_batch;
use crate::domain::{Attempt, DeadLetter, RetryMessage};
use crate::ports::{OutgoingMessage, Queue, ReceivedMessage, StoreResult};
use crate::runtime::Services;
use crate::topology::QueueName;

/// Which dead letters a command applies to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub workspace: Option<String>,
    pub stream: Option<String>,
}

impl Filter {
    fn matches(&self, listing: &Listing) -> bool {
        self.workspace
            .as_ref()
            .is_none_or(|w| *w == listing.workspace_id)
            && self.stream.as_ref().is_none_or(|s| *s == listing.stream)
    }
}

/// One `dlq list` line.
#[derive(Debug, PartialEq, Serialize)]
pub struct Listing {
    pub id: String,
    pub workspace_id: String,
    pub stream: String,
    pub moe_request_id: String,
    pub event_uuids: Vec<String>,
    pub attempts: Vec<Attempt>,
    pub reason: String,
    /// For a message no handler could complete: the queue it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueName>,
}

impl Listing {
    fn of(id: &str, letter: &DeadLetter) -> Self {
        match letter {
            DeadLetter::Batch(batch) => Listing {
                id: id.to_owned(),
                workspace_id: batch.workspace_id.clone(),
                stream: batch.stream.clone(),
                moe_request_id: batch.moe_request_id.clone(),
                event_uuids: batch.events.iter().map(|e| e.event_uuid.clone()).collect(),
                attempts: batch.attempts.clone(),
                reason: batch.reason.clone(),
                queue: None,
            },
            DeadLetter::Message(message) => Listing {
                id: id.to_owned(),
                workspace_id: workspace_of(&message.body),
                stream: String::new(),
                moe_request_id: String::new(),
                event_uuids: Vec::new(),
                attempts: Vec::new(),
                reason: message.reason.clone(),
                queue: Some(message.queue),
            },
        }
    }

    fn unreadable(id: &str) -> Self {
        Listing {
            id: id.to_owned(),
            workspace_id: String::new(),
            stream: String::new(),
            moe_request_id: String::new(),
            event_uuids: Vec::new(),
            attempts: Vec::new(),
            reason: "unreadable dead letter".into(),
            queue: None,
        }
    }
}

/// The workspace a queue message belongs to, when it is readable enough.
fn workspace_of(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        workspace_id: String,
    }
    serde_json::from_str::<Envelope>(body)
        .map(|e| e.workspace_id)
        .unwrap_or_default()
}

/// Reads a dead-letter body: ours, or a retry message SQS redrove here after
/// the retry function kept failing on it.
pub fn parse(body: &str) -> Option<DeadLetter> {
    if let Ok(letter) = serde_json::from_str::<DeadLetter>(body) {
        return Some(letter);
    }
    let message: RetryMessage = serde_json::from_str(body).ok()?;
    Some(dead_batch(
        &message.workspace_id,
        &message.stream,
        message.moe_request_id,
        message.events,
        message.attempts,
        "redriven by the queue after repeated handler failures".into(),
    ))
}

/// Hides every message for the duration of a command and returns them.
async fn drain(queue: &dyn Queue) -> StoreResult<Vec<ReceivedMessage>> {
    let hold = Duration::from_secs(120);
    let mut all = Vec::new();
    loop {
        let batch = queue.receive(10, hold, Duration::from_millis(200)).await?;
        if batch.is_empty() {
            return Ok(all);
        }
        all.extend(batch);
    }
}

async fn release(queue: &dyn Queue, messages: &[ReceivedMessage]) -> StoreResult<()> {
    for m in messages {
        queue
            .change_visibility(&m.receipt_handle, Duration::ZERO)
            .await?;
    }
    Ok(())
}

pub async fn list(services: &Services, filter: &Filter) -> StoreResult<Vec<Listing>> {
    let queue: &dyn Queue = &**services.queues.dead_letter.raw();
    let messages = drain(queue).await?;
    let out = messages
        .iter()
        .map(|m| match parse(&m.body) {
            Some(letter) => Listing::of(&m.message_id, &letter),
            None => Listing::unreadable(&m.message_id),
        })
        .filter(|listing| filter.matches(listing))
        .collect();
    release(queue, &messages).await?;
    Ok(out)
}

/// Moves the selected dead letters to the retry queue for immediate
/// delivery, with the same moe_request_id. Returns how many.
pub async fn replay(services: &Services, filter: &Filter) -> StoreResult<usize> {
    let queue: &dyn Queue = &**services.queues.dead_letter.raw();
    let messages = drain(queue).await?;
    let (mut chosen, mut kept) = (Vec::new(), Vec::new());
    let mut retries = Vec::new();
    let mut returning: Vec<(QueueName, OutgoingMessage)> = Vec::new();
    for m in messages {
        let letter = parse(&m.body);
        let selected = letter
            .as_ref()
            .is_some_and(|l| filter.matches(&Listing::of(&m.message_id, l)));
        match letter {
            Some(DeadLetter::Batch(batch)) if selected && !batch.stream.is_empty() => {
                retries.push(RetryMessage {
                    workspace_id: batch.workspace_id,
                    stream: batch.stream,
                    moe_request_id: batch.moe_request_id,
                    events: batch.events,
                    // A fresh cycle: an immediate try, then the schedule again.
                    attempts: Vec::new(),
                });
                chosen.push(m.receipt_handle);
            }
            Some(DeadLetter::Message(message)) if selected => {
                returning.push((message.queue, OutgoingMessage::now(message.body)));
                chosen.push(m.receipt_handle);
            }
            _ => kept.push(m),
        }
    }
    // Queue first, delete second: a crash in between duplicates, never loses.
    services.queues.retry.send(&retries).await?;
    for (name, message) in returning {
        services.queues.raw(name).send(&[message]).await?;
    }
    queue.delete(&chosen).await?;
    release(queue, &kept).await?;
    Ok(chosen.len())
}
