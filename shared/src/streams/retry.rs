//! retry: a failed stream batch is re-sent whole 30 s, 60 s and 120 s after
//! the previous failure, then dead-lettered with every attempt
//! (docs/rules/retry.md).
//!
//! The schedule runs on visibility timeouts (SQS's, or the embedded queue's):
//! after a failure the message is hidden for the next delay and reported as
//! a batch-item failure. Attempts are counted in the attempt log, not by
//! ApproximateReceiveCount (Lambda throttling inflates it).

use std::borrow::Cow;

use super::enrich::Profiles;
use super::follow_up::{self, FollowUp, FollowUps};
use super::send::Sender;
use super::{record, report};
use crate::config::{StreamConfig, WorkspaceConfig};
use crate::dead_letters::{self, Owner, Reason};
use crate::domain::{Attempt, RetryMessage};
use crate::ports::StoreResult;
use crate::queue::batch::Handled;
use crate::runtime::Services;

/// Handles one retry message: `Done` when delivered, dead-lettered, parked
/// again or superseded; `RetryIn` the next step of the schedule when it
/// failed again.
pub async fn retry(services: &Services, message: &RetryMessage) -> StoreResult<Handled> {
    let (ws_id, request_id) = (&message.workspace_id, &message.moe_request_id);
    let owner = Owner {
        workspace_id: ws_id,
        stream: &message.stream,
    };
    // A held batch comes back after a resume: see it with fresh eyes.
    super::control::refresh_if_held(services, ws_id, &message.stream).await?;
    let workspace = services.workspaces.get(ws_id).await?;
    let stream = workspace
        .as_ref()
        .and_then(|w| w.streams.iter().find(|s| s.name == message.stream));
    let (Some(workspace), Some(stream)) = (workspace.as_deref(), stream) else {
        let reason = Reason::StreamNotConfigured {
            workspace: ws_id.clone(),
            stream: message.stream.clone(),
        };
        let letter = dead_letters::batch(
            owner,
            request_id.clone(),
            message.events.clone(),
            message.attempts.clone(),
            reason,
        );
        dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await?;
        return Ok(Handled::Done);
    };
    // Events of users erased since they were queued are not delivered
    // (docs/interface/privacy.md "Suppression").
    let filtered;
    let message =
        match crate::privacy::suppression::deliverable(services, ws_id, &message.events).await? {
            Cow::Borrowed(_) => message,
            Cow::Owned(events) if events.is_empty() => {
                services.attempts.clear_attempts(ws_id, request_id).await?;
                return Ok(Handled::Done);
            }
            Cow::Owned(events) => {
                filtered = RetryMessage {
                    workspace_id: ws_id.clone(),
                    stream: message.stream.clone(),
                    moe_request_id: request_id.clone(),
                    events,
                    attempts: message.attempts.clone(),
                };
                &filtered
            }
        };
    let logged = services.attempts.attempts(ws_id, request_id).await?;
    let mut history = message.attempts.clone();
    history.extend(logged.iter().cloned());
    let schedule = &services.retry_schedule;
    let next = if history.len() > schedule.retries() {
        // The last retry failed and was logged, but keeping its dead letter
        // did not finish: keep it now, without another attempt.
        let letter = follow_up::spent(owner, message, history, schedule);
        Next::CarryOut(vec![letter], Done::Dead)
    } else {
        let target = (workspace, stream);
        attempt(services, target, owner, message, (logged.len(), history)).await?
    };
    let (follow_ups, done) = match next {
        Next::Answer(handled) => return Ok(handled),
        Next::CarryOut(follow_ups, done) => (follow_ups, done),
    };
    super::control::carry_out(services, FollowUps(follow_ups)).await?;
    match done {
        Done::Held => {}
        Done::Sent => services.attempts.clear_attempts(ws_id, request_id).await?,
        // One that cannot be cleared expires on its own (`dlq replay`
        // clears it first): failing the message would keep the dead letter
        // twice.
        Done::Dead => {
            if let Err(e) = services.attempts.clear_attempts(ws_id, request_id).await {
                tracing::warn!(workspace_id = %ws_id, stream = %message.stream,
                    moe_request_id = %request_id, error = %e,
                    "dead-lettered, but could not clear the attempt log; it expires on its own");
            }
        }
    }
    Ok(Handled::Done)
}

/// What a retry leaves to do: an answer now, or follow-ups to carry out
/// and then how the message ends.
enum Next {
    Answer(Handled),
    CarryOut(Vec<FollowUp>, Done),
}

/// How a retry message ends once its follow-ups are carried out: its
/// attempt log is kept (held back), cleared (sent), or cleared if it can
/// be (dead-lettered).
enum Done {
    Held,
    Sent,
    Dead,
}

/// Attempt `history.len() + 1` of `message` (`logged` of the history's
/// attempts are in the attempt log), told to the metrics and the delivery
/// log, and what it leaves to do.
async fn attempt(
    services: &Services,
    (workspace, stream): (&WorkspaceConfig, &StreamConfig),
    owner: Owner<'_>,
    message: &RetryMessage,
    (logged, mut history): (usize, Vec<Attempt>),
) -> StoreResult<Next> {
    let (ws_id, request_id) = (&message.workspace_id, &message.moe_request_id);
    let profiles = Profiles::load(services, ws_id, &message.events, &[stream]).await?;
    let states = services.cached_stream_states(ws_id).await?;
    let sender = Sender {
        gates: &services.gates,
        http: services.http(),
        states: &states,
    };
    let mut sent = sender
        .send(workspace, stream, &profiles, request_id, &message.events)
        .await;
    let batch = record::Batch {
        owner,
        request_id,
        events: &message.events,
        attempts_made: history.len(),
        first: false,
    };
    record::sent(services, stream, batch, sent.as_mut().map_err(|why| *why));
    let outcome = match sent {
        Ok(outcome) => outcome,
        Err(why) => {
            let (events, attempts) = (message.events.clone(), message.attempts.clone());
            let parked = follow_up::park(owner, request_id.clone(), events, attempts, why);
            return Ok(Next::CarryOut(vec![parked], Done::Held));
        }
    };
    report::delivered(ws_id, &message.stream, &outcome);
    let schedule = &services.retry_schedule;
    let Some(failure) = outcome.whole_failure(message.events.len()) else {
        // Delivered, or partly (Amplitude): parts still failing continue as
        // requests of their own, carrying this request's attempt history;
        // once the schedule is exhausted they are dead.
        let next = follow_up::after(owner, &history, outcome, schedule);
        return Ok(Next::CarryOut(next, Done::Sent));
    };
    // Another delivery of this same message counted an attempt since we
    // read the log: that copy carries the schedule on.
    let counted = services
        .attempts
        .append_attempt(ws_id, request_id, logged, &failure.attempt)
        .await?;
    if !counted {
        tracing::info!(
            workspace_id = %ws_id,
            stream = %message.stream,
            moe_request_id = %request_id,
            "retry superseded: another copy of this message logged the attempt; this copy is deleted"
        );
        return Ok(Next::Answer(Handled::Done));
    }
    history.push(failure.attempt.clone());
    let (events, wait) = (message.events.clone(), failure.wait_at_least);
    let next = follow_up::after_failure(owner, request_id.clone(), events, history, wait, schedule);
    // The same message waits for the next step: no copy is queued.
    if let FollowUp::Retry { delay, .. } = &next {
        next.report();
        return Ok(Next::Answer(Handled::RetryIn(*delay)));
    }
    Ok(Next::CarryOut(vec![next], Done::Dead))
}
