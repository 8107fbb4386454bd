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
    if history.len() > services.retry_schedule.retries() {
        // The last retry failed and was logged, but keeping its dead letter
        // did not finish: keep it now, without another attempt.
        return keep_spent(services, owner, message, history).await;
    }

    let profiles = Profiles::load(services, ws_id, &message.events).await?;
    let states = services.cached_stream_states(ws_id).await?;
    let sender = Sender {
        gates: &services.gates,
        http: services.http(),
        states: &states,
    };
    let sent = sender
        .send(workspace, stream, &profiles, request_id, &message.events)
        .await;
    let outcome = match sent {
        Ok(outcome) => {
            super::control::on_gone(services, workspace, stream, &outcome).await;
            outcome
        }
        Err(why) => {
            let held = record::Held {
                owner,
                request_id,
                events: &message.events,
                why,
                attempts_made: history.len(),
                first: false,
            };
            record::waiting(services, held);
            let parked = follow_up::park(
                owner,
                request_id.clone(),
                message.events.clone(),
                message.attempts.clone(),
                why,
            );
            super::control::carry_out(services, FollowUps(vec![parked])).await?;
            return Ok(Handled::Done);
        }
    };
    report::delivered(ws_id, &message.stream, &outcome);
    record::attempt(services, ws_id, stream, &outcome, history.len() + 1);
    let schedule = &services.retry_schedule;
    if let Some(failure) = outcome.whole_failure(message.events.len()) {
        // Another delivery of this same message counted an attempt since
        // we read the log: that copy carries the schedule on.
        if !services
            .attempts
            .append_attempt(ws_id, request_id, logged.len(), &failure.attempt)
            .await?
        {
            tracing::info!(
                workspace_id = %ws_id,
                stream = %message.stream,
                moe_request_id = %request_id,
                "retry superseded: another copy of this message logged the attempt; this copy is deleted"
            );
            return Ok(Handled::Done);
        }
        history.push(failure.attempt.clone());
        let next = follow_up::after_failure(
            owner,
            request_id.clone(),
            message.events.clone(),
            history,
            failure.wait_at_least,
            schedule,
        );
        // The same message waits for the next step: no copy is queued.
        if let FollowUp::Retry { delay, .. } = &next {
            next.report();
            return Ok(Handled::RetryIn(*delay));
        }
        super::control::carry_out(services, FollowUps(vec![next])).await?;
        return Ok(clear_dead(services, message).await);
    }

    // Delivered, or partly (Amplitude): parts still failing continue as
    // requests of their own, carrying this request's attempt history; once
    // the schedule is exhausted they are dead.
    let next = follow_up::after(owner, &history, outcome, schedule);
    super::control::carry_out(services, FollowUps(next)).await?;
    services.attempts.clear_attempts(ws_id, request_id).await?;
    Ok(Handled::Done)
}

/// Keeps the batch as a dead letter with its whole `history`: the schedule
/// was spent by an earlier delivery of this message.
async fn keep_spent(
    services: &Services,
    owner: Owner<'_>,
    message: &RetryMessage,
    history: Vec<Attempt>,
) -> StoreResult<Handled> {
    let last_error = history.last().map(|a| a.error.clone()).unwrap_or_default();
    let reason = Reason::GaveUp {
        retries: services.retry_schedule.retries(),
        last_error,
    };
    let letter = dead_letters::batch(
        owner,
        message.moe_request_id.clone(),
        message.events.clone(),
        history,
        reason,
    );
    dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await?;
    Ok(clear_dead(services, message).await)
}

/// Clears a dead-lettered batch's attempt log. One that cannot be cleared
/// expires on its own (`dlq replay` clears it first), so the message is
/// done either way: failing it would keep the dead letter twice.
async fn clear_dead(services: &Services, message: &RetryMessage) -> Handled {
    let (ws_id, request_id) = (&message.workspace_id, &message.moe_request_id);
    if let Err(e) = services.attempts.clear_attempts(ws_id, request_id).await {
        tracing::warn!(workspace_id = %ws_id, stream = %message.stream,
            moe_request_id = %request_id, error = %e,
            "dead-lettered, but could not clear the attempt log; it expires on its own");
    }
    Handled::Done
}
