//! The dead-letter workflow (docs/interface/cli.md "dlq"): list dead letters
//! (a plain read of the dead-letter store: it hides nothing from anyone),
//! and replay them: stream batches for immediate delivery (then the retries
//! again), queue messages onto the queue they came from.

use serde::Serialize;

use crate::dead_letters::{self, Owner, Reason};
use crate::domain::page::{MAX_LIMIT, PageRequest};
use crate::domain::{Attempt, DeadLetter, Hold, RetryMessage};
use crate::ports::{KeptDeadLetter, OutgoingMessage, StoreResult};
use crate::queue::Queues;
use crate::runtime::Services;
use crate::topology::QueueName;

/// Which dead letters a command applies to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub workspace: Option<String>,
    pub stream: Option<String>,
    /// Dead-letter ids (`dlq replay --id`); empty: any.
    pub ids: Vec<String>,
}

impl Filter {
    fn matches(&self, listing: &Listing) -> bool {
        self.workspace
            .as_ref()
            .is_none_or(|w| *w == listing.workspace_id)
            && self.stream.as_ref().is_none_or(|s| *s == listing.stream)
            && (self.ids.is_empty() || self.ids.contains(&listing.id))
    }
}

/// One `dlq list` line.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    fn of(kept: &KeptDeadLetter) -> Self {
        let id = kept.id.clone();
        match &kept.letter {
            DeadLetter::Batch(batch) => Listing {
                id,
                workspace_id: batch.workspace_id.clone(),
                stream: batch.stream.clone(),
                moe_request_id: batch.moe_request_id.clone(),
                event_uuids: batch.events.iter().map(|e| e.event_uuid.clone()).collect(),
                attempts: batch.attempts.clone(),
                reason: batch.reason.clone(),
                queue: None,
            },
            DeadLetter::Message(message) => Listing {
                id,
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

/// Every kept dead letter that `keep` selects, oldest first.
async fn kept_where(
    services: &Services,
    keep: impl Fn(&KeptDeadLetter) -> bool,
) -> StoreResult<Vec<KeptDeadLetter>> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(MAX_LIMIT);
    loop {
        let found = services.dead_letters.list_dead_letters(&page).await?;
        out.extend(found.items.into_iter().filter(|kept| keep(kept)));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(out),
        }
    }
}

/// Every kept dead letter that `filter` selects, oldest first, with the letter.
pub async fn selected(
    services: &Services,
    filter: &Filter,
) -> StoreResult<Vec<(Listing, DeadLetter)>> {
    let kept = kept_where(services, |kept| filter.matches(&Listing::of(kept))).await?;
    Ok(kept
        .into_iter()
        .map(|kept| (Listing::of(&kept), kept.letter))
        .collect())
}

/// One dead letter in full (`dlq show`): a batch with its events, or a
/// queue message with its raw body, which `dlq list` leaves out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shown {
    pub id: String,
    /// When it was dead-lettered (RFC 3339 UTC).
    pub at: String,
    #[serde(flatten)]
    pub letter: DeadLetter,
}

/// The dead letter `id`, if it is kept.
pub async fn show(services: &Services, id: &str) -> StoreResult<Option<Shown>> {
    let found = kept_where(services, |kept| kept.id == id).await?;
    Ok(found.into_iter().next().map(|kept| Shown {
        id: kept.id,
        at: crate::domain::time::rfc3339_ms(kept.at_ms),
        letter: kept.letter,
    }))
}

/// The dead letters `filter` selects (a plain read).
pub async fn list(services: &Services, filter: &Filter) -> StoreResult<Vec<Listing>> {
    Ok(selected(services, filter)
        .await?
        .into_iter()
        .map(|(listing, _)| listing)
        .collect())
}

/// Messages SQS's redrive policy moved to the redrive queue and `dlq
/// replay` has not taken in yet (AWS; 0 on the embedded store).
pub async fn redriven_waiting(queues: &Queues) -> StoreResult<u64> {
    queues.redriven.approximate_len().await
}

/// Takes what SQS redrove into the dead-letter store, so it is listed and
/// replayed like any dead letter. Stored first, deleted second: a crash in
/// between keeps a duplicate, never loses one.
async fn take_in_redriven(services: &Services) -> StoreResult<usize> {
    let queue = &services.queues.redriven;
    let mut taken = 0;
    loop {
        let received = queue
            .receive(
                10,
                std::time::Duration::from_secs(60),
                std::time::Duration::ZERO,
            )
            .await?;
        if received.is_empty() {
            return Ok(taken);
        }
        let letters: Vec<DeadLetter> = received
            .iter()
            .map(|m| match serde_json::from_str::<RetryMessage>(&m.body) {
                Ok(retry) => {
                    let owner = Owner {
                        workspace_id: &retry.workspace_id,
                        stream: &retry.stream,
                    };
                    dead_letters::batch(
                        owner,
                        retry.moe_request_id,
                        retry.events,
                        retry.attempts,
                        Reason::Redriven,
                    )
                }
                Err(_) => dead_letters::message(
                    QueueName::Retry,
                    m.body.clone(),
                    m.receive_count,
                    Reason::Redriven,
                ),
            })
            .collect();
        dead_letters::keep(services.dead_letters.as_ref(), &letters).await?;
        let handles: Vec<String> = received.into_iter().map(|m| m.receipt_handle).collect();
        queue.delete(&handles).await?;
        taken += letters.len();
    }
}

/// Replays the dead letters `filter` selects (or, with `dry_run`, only says
/// which): a stream batch goes to the retry queue for immediate delivery
/// with the same `moe_request_id` and a fresh cycle of retries; a queue
/// message goes back onto its queue. Queued first, removed second: a crash
/// in between replays twice, never loses one. `progress` hears of each
/// chunk done (count so far, total).
pub async fn replay(
    services: &Services,
    filter: &Filter,
    dry_run: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> StoreResult<Vec<Listing>> {
    if !dry_run {
        take_in_redriven(services).await?;
    }
    let chosen = selected(services, filter).await?;
    if dry_run {
        return Ok(chosen.into_iter().map(|(listing, _)| listing).collect());
    }
    let total = chosen.len();
    let mut replayed = Vec::with_capacity(total);
    for chunk in chosen.chunks(100) {
        let mut retries = Vec::new();
        for (_, letter) in chunk {
            match letter {
                DeadLetter::Batch(batch) if !batch.stream.is_empty() => {
                    // A fresh cycle of retries: no attempt left from the
                    // last one (docs/interface/cli.md "dlq").
                    services
                        .attempts
                        .clear_attempts(&batch.workspace_id, &batch.moe_request_id)
                        .await?;
                    retries.push(RetryMessage {
                        workspace_id: batch.workspace_id.clone(),
                        stream: batch.stream.clone(),
                        moe_request_id: batch.moe_request_id.clone(),
                        events: batch.events.clone(),
                        attempts: Vec::new(),
                    })
                }
                // A batch for no stream (its workspace was unknown) goes
                // back to dispatch, which routes it anew.
                DeadLetter::Batch(batch) => {
                    let message = crate::domain::EventsMessage {
                        workspace_id: batch.workspace_id.clone(),
                        events: batch.events.clone(),
                    };
                    services.queues.events.send(&[message]).await?;
                }
                DeadLetter::Message(message) => {
                    services
                        .queues
                        .raw(message.queue)
                        .send(&[OutgoingMessage::now(message.body.clone())])
                        .await?;
                }
            }
        }
        services.queues.retry.send(&retries).await?;
        let ids: Vec<String> = chunk.iter().map(|(l, _)| l.id.clone()).collect();
        services.dead_letters.remove_dead_letters(&ids).await?;
        replayed.extend(chunk.iter().map(|(l, _)| l.clone()));
        progress(replayed.len(), total);
    }
    Ok(replayed)
}

/// The streams that wait (paused in the configuration or by an operator,
/// or disabled after a 410) among those `filter` selects, as (workspace,
/// stream, why): their batches wait on the retry queue, so `dlq list`
/// names them instead of listing them.
pub async fn paused_streams(
    services: &Services,
    filter: &Filter,
) -> StoreResult<Vec<(String, String, Hold)>> {
    let mut paused = Vec::new();
    for id in services.workspaces.list_workspace_ids().await? {
        if filter.workspace.as_ref().is_some_and(|w| *w != id) {
            continue;
        }
        let Some(workspace) = services.workspaces.get_workspace(&id).await? else {
            continue;
        };
        for (stream, hold) in super::control::held_streams(services, &workspace).await? {
            if filter.stream.as_ref().is_none_or(|s| *s == stream) {
                paused.push((id.clone(), stream, hold));
            }
        }
    }
    Ok(paused)
}
