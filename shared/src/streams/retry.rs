//! retry: a failed stream batch is re-sent whole 30 s, 60 s and 120 s after
//! the previous failure, then dead-lettered with every attempt
//! (docs/rules/retry.md).
//!
//! The schedule runs on visibility timeouts (SQS's, or the embedded queue's):
//! after a failure the message is hidden for the next delay and reported as
//! a batch-item failure. Attempts are counted in the attempt log, not by
//! ApproximateReceiveCount (Lambda throttling inflates it).

use super::dispatch::{FollowUps, dead_batch, deliver_gated, gave_up};
use super::enrich::Profiles;
use super::report;
use crate::domain::{Attempt, RetryMessage};
use crate::ports::StoreResult;
use crate::queue::batch::Handled;
use crate::runtime::Services;

/// Handles one retry message: `Done` when delivered, dead-lettered or
/// superseded; `RetryIn` the next step of the schedule when it failed again.
pub async fn retry(services: &Services, message: &RetryMessage) -> StoreResult<Handled> {
    let (ws_id, request_id) = (&message.workspace_id, &message.moe_request_id);
    let workspace = services.workspace(ws_id).await?;
    let stream = workspace
        .as_ref()
        .and_then(|w| w.streams.iter().find(|s| s.name == message.stream));
    let (Some(workspace), Some(stream)) = (workspace.as_deref(), stream) else {
        let reason = format!(
            "stream {:?} of workspace {ws_id:?} is no longer configured",
            message.stream
        );
        let letter = dead_batch(
            ws_id,
            &message.stream,
            request_id.clone(),
            message.events.clone(),
            message.attempts.clone(),
            reason,
        );
        crate::dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await?;
        return Ok(Handled::Done);
    };
    let logged = services.attempts.attempts(ws_id, request_id).await?;
    let mut history = message.attempts.clone();
    history.extend(logged.iter().cloned());
    let schedule = &services.retry_schedule;
    if history.len() > schedule.retries() {
        // The last retry failed and was logged, but keeping its dead letter
        // did not finish: keep it now, without another attempt.
        return dead_letter(services, message, history).await;
    }

    let profiles = Profiles::load(services, ws_id, &message.events).await?;
    let outcome = match deliver_gated(
        services,
        workspace,
        &profiles,
        stream,
        request_id,
        &message.events,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(why) => {
            // Parked again: a fresh copy (its receive count starts over, so a
            // long pause never looks like a poison message); no attempt made.
            super::dispatch::log_parked(
                ws_id,
                &message.stream,
                request_id,
                message.events.len(),
                why,
            );
            let mut park = FollowUps::default();
            park.park(
                ws_id,
                &message.stream,
                request_id.clone(),
                message.events.clone(),
                message.attempts.clone(),
                why.wait(),
            )?;
            park.send(services).await?;
            return Ok(Handled::Done);
        }
    };
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
        // The first attempt failed at dispatch (or was a replay's immediate
        // try); every later one is a retry.
        let retries_done = history.len().saturating_sub(1);
        let next = schedule.delay(retries_done, failure.wait_at_least);
        report::failed_attempt(
            ws_id,
            &message.stream,
            request_id,
            &failure.attempt,
            history.len(),
            schedule.retries() + 1,
            next,
        );
        if let Some(delay) = next {
            return Ok(Handled::RetryIn(delay));
        }
        return dead_letter(services, message, history).await;
    }

    // Delivered, or partly (Amplitude): parts still failing continue as
    // requests of their own, carrying this request's attempt history; once
    // the schedule is exhausted they are dead.
    let mut follow_ups = FollowUps::default();
    follow_ups.add(ws_id, &message.stream, &history, outcome, schedule)?;
    follow_ups.send(services).await?;
    services.attempts.clear_attempts(ws_id, request_id).await?;
    Ok(Handled::Done)
}

/// Keeps the batch as a dead letter with its whole `history` (the schedule
/// is spent), then clears its attempt log. A log that cannot be cleared
/// expires on its own (`dlq replay` clears it first), so the message is
/// done either way: failing it would keep the dead letter twice.
async fn dead_letter(
    services: &Services,
    message: &RetryMessage,
    history: Vec<Attempt>,
) -> StoreResult<Handled> {
    let (ws_id, request_id) = (&message.workspace_id, &message.moe_request_id);
    let last_error = history.last().map_or("", |a| a.error.as_str());
    let reason = gave_up(services.retry_schedule.retries(), last_error);
    let letter = dead_batch(
        ws_id,
        &message.stream,
        request_id.clone(),
        message.events.clone(),
        history,
        reason,
    );
    crate::dead_letters::keep(services.dead_letters.as_ref(), &[letter]).await?;
    if let Err(e) = services.attempts.clear_attempts(ws_id, request_id).await {
        tracing::warn!(workspace_id = %ws_id, stream = %message.stream,
            moe_request_id = %request_id, error = %e,
            "dead-lettered, but could not clear the attempt log; it expires on its own");
    }
    Ok(Handled::Done)
}
