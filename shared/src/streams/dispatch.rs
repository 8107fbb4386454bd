//! stream-dispatch: every event of an events-queue message goes to each
//! matching stream of its workspace. Streams are sent concurrently and are
//! independent: a failing stream's batch goes to the retry queue on its own.

use std::time::Duration;

use futures::future::join_all;

use crate::config::{StreamConfig, WorkspaceConfig};
use crate::domain::ids::derived_uuid;
use crate::domain::{DeadLetter, Event, EventsMessage, RetryMessage};
use crate::ports::{MAX_DELAY, OutgoingMessage, StoreError, StoreResult};
use crate::runtime::Services;

use super::deliver::{self, Outcome};
use super::enrich::{self, Profiles};
use super::selection;

/// What a dispatch did, per stream (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    pub stream: String,
    pub delivered: usize,
    pub dropped: usize,
    pub retried: usize,
    pub dead: usize,
}

/// `moe_request_id` of a batch: derived from the workspace, the stream and the
/// batch's events, so a redelivered queue message yields the same id, and it
/// never changes across retries (it travels in the retry message).
pub fn request_id(workspace: &str, stream: &str, events: &[Event]) -> String {
    let uuids: Vec<&str> = events.iter().map(|e| e.event_uuid.as_str()).collect();
    derived_uuid(&[workspace, stream, &uuids.join(",")])
}

/// The delay before the first retry: the schedule's first step, or longer if
/// the receiver asked, capped at SQS's 900 s.
pub fn first_delay(schedule: &[u32], wait_at_least: Duration) -> Duration {
    let step = Duration::from_secs(u64::from(schedule.first().copied().unwrap_or(30)));
    step.max(wait_at_least).min(MAX_DELAY)
}

/// Turns a delivery outcome into retry-queue and dead-letter messages.
pub fn follow_ups(
    workspace: &str,
    stream: &str,
    request_id: &str,
    previous_attempts: &[crate::domain::Attempt],
    outcome: Outcome,
    next_delay: impl Fn(Duration) -> Duration,
) -> StoreResult<(Vec<OutgoingMessage>, Vec<OutgoingMessage>)> {
    let whole = outcome.retry.len() == 1
        && outcome.dead.is_empty()
        && outcome.delivered == 0
        && outcome.dropped == 0;
    let mut retries = Vec::new();
    for batch in outcome.retry {
        // A subset of the request (Amplitude throttling) is a request of its own.
        let id = if whole {
            request_id.to_owned()
        } else {
            request_id_for_subset(request_id, &batch.events)
        };
        let mut attempts = previous_attempts.to_vec();
        attempts.push(batch.attempt);
        let message = RetryMessage {
            workspace_id: workspace.to_owned(),
            stream: stream.to_owned(),
            moe_request_id: id,
            events: batch.events,
            attempts,
        };
        retries.push(OutgoingMessage {
            body: encode(&message)?,
            delay: next_delay(batch.wait_at_least),
        });
    }
    let mut dead = Vec::new();
    for batch in outcome.dead {
        let mut attempts = previous_attempts.to_vec();
        attempts.push(batch.attempt);
        let letter = DeadLetter {
            workspace_id: workspace.to_owned(),
            stream: stream.to_owned(),
            moe_request_id: request_id_for_subset(request_id, &batch.events),
            events: batch.events,
            attempts,
            reason: batch.reason,
        };
        dead.push(OutgoingMessage::now(encode(&letter)?));
    }
    Ok((retries, dead))
}

fn request_id_for_subset(request_id: &str, events: &[Event]) -> String {
    let uuids: Vec<&str> = events.iter().map(|e| e.event_uuid.as_str()).collect();
    derived_uuid(&[request_id, "subset", &uuids.join(",")])
}

fn encode<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

async fn dispatch_stream(
    services: &Services,
    workspace: &WorkspaceConfig,
    profiles: &Profiles,
    stream: &StreamConfig,
    events: &[Event],
) -> StoreResult<(StreamReport, Vec<OutgoingMessage>, Vec<OutgoingMessage>)> {
    let selected: Vec<Event> = events
        .iter()
        .filter(|e| selection::selects(stream, e))
        .map(|e| enrich::for_stream(e, profiles.of(e), stream))
        .collect();
    let mut report = StreamReport {
        stream: stream.name.clone(),
        ..StreamReport::default()
    };
    let (mut retries, mut dead) = (Vec::new(), Vec::new());
    for batch in selected.chunks(stream.batch_size.max(1) as usize) {
        let id = request_id(&workspace.id, &stream.name, batch);
        let outcome = deliver::deliver(
            &services.http,
            workspace,
            profiles,
            stream,
            &id,
            batch.to_vec(),
        )
        .await;
        report.delivered += outcome.delivered;
        report.dropped += outcome.dropped;
        report.retried += outcome.retry.iter().map(|r| r.events.len()).sum::<usize>();
        report.dead += outcome.dead.iter().map(|d| d.events.len()).sum::<usize>();
        let (r, d) = follow_ups(&workspace.id, &stream.name, &id, &[], outcome, |wait| {
            first_delay(&services.retry_schedule, wait)
        })?;
        retries.extend(r);
        dead.extend(d);
    }
    Ok((report, retries, dead))
}

/// Dispatches one events-queue message. An error means the follow-up messages
/// could not be queued: the caller must let the message be redelivered.
pub async fn dispatch(
    services: &Services,
    message: &EventsMessage,
) -> StoreResult<Vec<StreamReport>> {
    let Some(workspace) = services.workspace(&message.workspace_id).await? else {
        // Undeliverable: keep the events where an operator can see them.
        let letter = DeadLetter {
            workspace_id: message.workspace_id.clone(),
            stream: String::new(),
            moe_request_id: request_id(&message.workspace_id, "", &message.events),
            events: message.events.clone(),
            attempts: Vec::new(),
            reason: format!("workspace {:?} is not configured", message.workspace_id),
        };
        let body = encode(&letter)?;
        services
            .queues
            .dead_letter
            .send(&[OutgoingMessage::now(body)])
            .await?;
        return Ok(Vec::new());
    };
    let streams: Vec<&StreamConfig> = workspace
        .streams
        .iter()
        .filter(|s| message.events.iter().any(|e| selection::selects(s, e)))
        .collect();
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    let profiles = Profiles::load(services, &workspace.id, &message.events).await?;
    let results =
        join_all(streams.iter().map(|stream| {
            dispatch_stream(services, &workspace, &profiles, stream, &message.events)
        }))
        .await;
    let (mut reports, mut retries, mut dead) = (Vec::new(), Vec::new(), Vec::new());
    for result in results {
        let (report, r, d) = result?;
        tracing::info!(
            workspace = %workspace.id, stream = %report.stream, delivered = report.delivered,
            dropped = report.dropped, retried = report.retried, dead = report.dead, "dispatched"
        );
        reports.push(report);
        retries.extend(r);
        dead.extend(d);
    }
    services.queues.retry.send(&retries).await?;
    services.queues.dead_letter.send(&dead).await?;
    Ok(reports)
}
