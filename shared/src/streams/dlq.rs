//! The dead-letter workflow (interface §6): list dead letters, and replay
//! them for immediate delivery (they then go through the retries again).
//! Works on any Queue: it receives everything, then makes what it keeps
//! visible again, so no SQS-only feature (StartMessageMoveTask) is needed.

use std::time::Duration;

use serde::Serialize;

use crate::domain::{Attempt, DeadLetter, RetryMessage};
use crate::ports::{OutgoingMessage, Queue, ReceivedMessage, StoreError, StoreResult};
use crate::runtime::Services;

/// Which dead letters a command applies to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub workspace: Option<String>,
    pub stream: Option<String>,
}

impl Filter {
    fn matches(&self, letter: &DeadLetter) -> bool {
        self.workspace
            .as_ref()
            .is_none_or(|w| *w == letter.workspace_id)
            && self.stream.as_ref().is_none_or(|s| *s == letter.stream)
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
}

/// Reads a dead-letter body: ours, or a retry message SQS redrove here after
/// the retry function kept failing on it.
pub fn parse(body: &str) -> Option<DeadLetter> {
    if let Ok(letter) = serde_json::from_str::<DeadLetter>(body) {
        return Some(letter);
    }
    let message: RetryMessage = serde_json::from_str(body).ok()?;
    Some(DeadLetter {
        workspace_id: message.workspace_id,
        stream: message.stream,
        moe_request_id: message.moe_request_id,
        events: message.events,
        attempts: message.attempts,
        reason: "redriven by the queue after repeated handler failures".into(),
    })
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
    let queue = services.queues.dead_letter.as_ref();
    let messages = drain(queue).await?;
    let mut out = Vec::new();
    for m in &messages {
        let listing = match parse(&m.body) {
            Some(letter) if filter.matches(&letter) => Listing {
                id: m.message_id.clone(),
                event_uuids: letter.events.iter().map(|e| e.event_uuid.clone()).collect(),
                workspace_id: letter.workspace_id,
                stream: letter.stream,
                moe_request_id: letter.moe_request_id,
                attempts: letter.attempts,
                reason: letter.reason,
            },
            Some(_) => continue,
            None if filter.workspace.is_none() && filter.stream.is_none() => Listing {
                id: m.message_id.clone(),
                workspace_id: String::new(),
                stream: String::new(),
                moe_request_id: String::new(),
                event_uuids: Vec::new(),
                attempts: Vec::new(),
                reason: "unreadable dead letter".into(),
            },
            None => continue,
        };
        out.push(listing);
    }
    release(queue, &messages).await?;
    Ok(out)
}

/// Moves the selected dead letters to the retry queue for immediate
/// delivery, with the same moe_request_id. Returns how many.
pub async fn replay(services: &Services, filter: &Filter) -> StoreResult<usize> {
    let queue = services.queues.dead_letter.as_ref();
    let messages = drain(queue).await?;
    let (mut chosen, mut kept) = (Vec::new(), Vec::new());
    let mut outgoing = Vec::new();
    for m in messages {
        match parse(&m.body) {
            Some(letter) if filter.matches(&letter) && !letter.stream.is_empty() => {
                let message = RetryMessage {
                    workspace_id: letter.workspace_id,
                    stream: letter.stream,
                    moe_request_id: letter.moe_request_id,
                    events: letter.events,
                    // A fresh cycle: an immediate try, then the schedule again.
                    attempts: Vec::new(),
                };
                let body = serde_json::to_string(&message).map_err(StoreError::backend)?;
                outgoing.push(OutgoingMessage::now(body));
                chosen.push(m.receipt_handle);
            }
            _ => kept.push(m),
        }
    }
    // Queue first, delete second: a crash in between duplicates, never loses.
    services.queues.retry.send(&outgoing).await?;
    queue.delete(&chosen).await?;
    release(queue, &kept).await?;
    Ok(chosen.len())
}
