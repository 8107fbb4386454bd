//! stream-dispatch: every event of an events-queue message goes to each
//! matching stream of its workspace. Streams are sent concurrently and are
//! independent: a failing stream's batch goes to the retry queue on its own
//! (docs/architecture.md "Streams").

use std::borrow::Cow;

use futures::future::join_all;

use super::control;
use super::enrich::Profiles;
use super::follow_up::{self, FollowUp, FollowUps};
use super::send::Sender;
use super::{record, report, selection};
use crate::config::{StreamConfig, WorkspaceConfig};
use crate::dead_letters::{self, Owner, Reason};
use crate::domain::ids::request_id;
use crate::domain::{Event, EventsMessage};
use crate::ports::StoreResult;
use crate::runtime::Services;

/// What a dispatch did, per stream (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamReport {
    pub stream: String,
    pub delivered: usize,
    pub dropped: usize,
    pub retried: usize,
    pub dead: usize,
    /// Events parked on the retry queue without an attempt (paused stream,
    /// open circuit, too many requests in flight).
    pub parked: usize,
}

/// Sends the events `stream` selects; returns what happened and what to do next.
async fn dispatch_stream(
    sender: Sender<'_>,
    services: &Services,
    workspace: &WorkspaceConfig,
    profiles: &Profiles,
    stream: &StreamConfig,
    events: &[Event],
) -> (StreamReport, Vec<FollowUp>) {
    // Copied only when the stream takes a part of the events.
    let selected: Cow<[Event]> = if events.iter().all(|e| selection::selects(stream, e)) {
        Cow::Borrowed(events)
    } else {
        let part = events.iter().filter(|e| selection::selects(stream, e));
        Cow::Owned(part.cloned().collect())
    };
    let id = request_id(&workspace.id, &stream.name, selected.iter());
    let owner = Owner {
        workspace_id: &workspace.id,
        stream: &stream.name,
    };
    let mut report = StreamReport {
        stream: stream.name.clone(),
        ..StreamReport::default()
    };
    let mut sent = sender
        .send(workspace, stream, profiles, &id, &selected)
        .await;
    let batch = record::Batch {
        owner,
        request_id: &id,
        events: &selected,
        attempts_made: 0,
        first: true,
    };
    record::sent(services, stream, batch, sent.as_mut().map_err(|why| *why));
    match sent {
        Ok(outcome) => {
            report::delivered(&workspace.id, &stream.name, &outcome);
            report.delivered = outcome.delivered;
            report.dropped = outcome.dropped;
            report.retried = outcome.retry.iter().map(|r| r.events.len()).sum();
            report.dead = outcome.dead.iter().map(|d| d.events.len()).sum();
            report.parked = outcome.parked.iter().map(|p| p.events.len()).sum();
            let next = follow_up::after(owner, &[], outcome, &services.retry_schedule);
            (report, next)
        }
        Err(why) => {
            report.parked = selected.len();
            let parked = follow_up::park(owner, id, selected.into_owned(), Vec::new(), why);
            (report, vec![parked])
        }
    }
}

/// Dispatches one events-queue message. An error means the follow-up messages
/// could not be queued: the caller must let the message be redelivered.
pub async fn dispatch(
    services: &Services,
    message: &EventsMessage,
) -> StoreResult<Vec<StreamReport>> {
    let Some(workspace) = services.workspaces.get(&message.workspace_id).await? else {
        // Undeliverable: keep the events where an operator can see them.
        let owner = Owner {
            workspace_id: &message.workspace_id,
            stream: "",
        };
        let letter = dead_letters::batch(
            owner,
            request_id(&message.workspace_id, "", &message.events),
            message.events.clone(),
            Vec::new(),
            Reason::WorkspaceNotConfigured(message.workspace_id.clone()),
        );
        dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await?;
        return Ok(Vec::new());
    };
    // Events of users erased since they were queued are not delivered, nor
    // shown on the console's live tail (docs/interface/privacy.md "Suppression").
    let events =
        crate::privacy::suppression::deliverable(services, &workspace.id, &message.events).await?;
    let streams: Vec<&StreamConfig> = workspace
        .streams
        .iter()
        .filter(|s| events.iter().any(|e| selection::selects(s, e)))
        .collect();
    record::dispatched(services, &workspace, &events, &streams);
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    // Read once for every stream (a failure redelivers the message).
    let states = services.cached_stream_states(&workspace.id).await?;
    let profiles = Profiles::load(services, &workspace.id, &events, &streams).await?;
    let sender = Sender {
        gates: &services.gates,
        http: services.http(),
        states: &states,
    };
    // Each stream's follow-ups are carried out as soon as that stream is
    // done: a stream waiting on a slow receiver never holds back another's
    // retries or parked batches (docs/architecture.md "Streams").
    let results = join_all(streams.iter().map(|stream| async {
        let (report, next) =
            dispatch_stream(sender, services, &workspace, &profiles, stream, &events).await;
        tracing::info!(
            workspace_id = %workspace.id, stream = %report.stream, delivered = report.delivered,
            dropped = report.dropped, retried = report.retried, dead = report.dead,
            parked = report.parked, "dispatched"
        );
        let carried = control::carry_out(services, FollowUps(next)).await;
        (report, carried)
    }))
    .await;
    let mut reports = Vec::with_capacity(results.len());
    for (report, carried) in results {
        carried?;
        reports.push(report);
    }
    Ok(reports)
}
