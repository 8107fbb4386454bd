//! retry: a failed stream batch is re-sent whole 30 s, 60 s and 120 s after
//! the previous failure [003], then dead-lettered with every attempt.
//!
//! The schedule runs on visibility timeouts (SQS's, or the embedded queue's):
//! after a failure the message is hidden for the next delay and reported as
//! a batch-item failure. Attempts are counted in the attempt log, not by
//! ApproximateReceiveCount (Lambda throttling inflates it).

use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;

use crate::domain::{Attempt, DeadLetter, RetryMessage};
use crate::ports::{MAX_DELAY, OutgoingMessage, StoreError, StoreResult};
use crate::runtime::Services;

use super::deliver;
use super::dispatch::follow_ups;
use super::enrich::Profiles;

/// What to do with a retry-queue message after handling it.
#[derive(Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Delivered, dead-lettered or superseded: delete it.
    Done,
    /// Failed again: keep it, hidden for this long.
    RetryIn(Duration),
}

/// The wait before retry number `retries_done + 1`, or None when the
/// schedule is exhausted (dead letter).
pub fn next_delay(
    schedule: &[u32],
    retries_done: usize,
    wait_at_least: Duration,
) -> Option<Duration> {
    let step = schedule.get(retries_done)?;
    Some(
        Duration::from_secs(u64::from(*step))
            .max(wait_at_least)
            .min(MAX_DELAY),
    )
}

fn dead_letter(
    message: &RetryMessage,
    attempts: Vec<Attempt>,
    reason: String,
) -> StoreResult<OutgoingMessage> {
    let letter = DeadLetter {
        workspace_id: message.workspace_id.clone(),
        stream: message.stream.clone(),
        moe_request_id: message.moe_request_id.clone(),
        events: message.events.clone(),
        attempts,
        reason,
    };
    Ok(OutgoingMessage::now(
        serde_json::to_string(&letter).map_err(StoreError::backend)?,
    ))
}

/// Handles one retry message; errors leave it to be redelivered.
pub async fn retry(services: &Services, message: &RetryMessage) -> StoreResult<Disposition> {
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
        let letter = dead_letter(message, message.attempts.clone(), reason)?;
        services.queues.dead_letter.send(&[letter]).await?;
        return Ok(Disposition::Done);
    };
    let logged = services.attempts.attempts(ws_id, request_id).await?;
    let mut history = message.attempts.clone();
    history.extend(logged.iter().cloned());

    let profiles = Profiles::load(services, ws_id, &message.events).await?;
    let mut outcome = deliver::deliver(
        &services.http,
        workspace,
        &profiles,
        stream,
        request_id,
        message.events.clone(),
    )
    .await;

    let whole_failed = outcome.retry.len() == 1
        && outcome.retry[0].events.len() == message.events.len()
        && outcome.dead.is_empty();
    if whole_failed {
        let failure = outcome.retry.remove(0);
        // Another delivery of this same message may have counted this retry.
        if !services
            .attempts
            .append_attempt(ws_id, request_id, logged.len(), &failure.attempt)
            .await?
        {
            return Ok(Disposition::Done);
        }
        history.push(failure.attempt);
        // The first attempt failed at dispatch (or was a replay's immediate
        // try); every later one is a retry.
        let retries_done = history.len().saturating_sub(1);
        return match next_delay(
            &services.retry_schedule,
            retries_done,
            failure.wait_at_least,
        ) {
            Some(delay) => Ok(Disposition::RetryIn(delay)),
            None => {
                let reason = format!(
                    "gave up after {} retries: {}",
                    services.retry_schedule.len(),
                    history
                        .last()
                        .map(|a| a.error.as_str())
                        .unwrap_or("unknown error")
                );
                let letter = dead_letter(message, history, reason)?;
                services.queues.dead_letter.send(&[letter]).await?;
                services.attempts.clear_attempts(ws_id, request_id).await?;
                Ok(Disposition::Done)
            }
        };
    }

    // Delivered, or partly (Amplitude): parts still failing continue as
    // requests of their own, carrying this request's attempt history.
    let retries_done = history.len();
    let exhausted = retries_done >= services.retry_schedule.len();
    if exhausted {
        for batch in outcome.retry.drain(..) {
            outcome.dead.push(deliver::DeadBatch {
                reason: format!(
                    "gave up after {} retries: {}",
                    services.retry_schedule.len(),
                    batch.attempt.error
                ),
                events: batch.events,
                attempt: batch.attempt,
            });
        }
    }
    let schedule = services.retry_schedule.clone();
    let (retries, dead) = follow_ups(
        ws_id,
        &message.stream,
        request_id,
        &history,
        outcome,
        |wait| next_delay(&schedule, retries_done, wait).unwrap_or(MAX_DELAY),
    )?;
    services.queues.retry.send(&retries).await?;
    services.queues.dead_letter.send(&dead).await?;
    services.attempts.clear_attempts(ws_id, request_id).await?;
    Ok(Disposition::Done)
}

/// Handles one SQS record of the retry queue; true when it may be deleted.
pub async fn handle_record(services: &Services, record: &SqsMessage) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let message: RetryMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => return super::dead_letter_unreadable(services, "retry", body, &e).await,
    };
    match retry(services, &message).await {
        Ok(Disposition::Done) => true,
        Ok(Disposition::RetryIn(delay)) => {
            let receipt = record.receipt_handle.as_deref().unwrap_or_default();
            if let Err(e) = services
                .queues
                .retry
                .change_visibility(receipt, delay)
                .await
            {
                tracing::warn!(error = %e, "could not re-time a retry; it returns after the queue's visibility timeout");
            }
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, request = %message.moe_request_id, "retry failed; will be redelivered");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_steps_then_dead_letter() {
        let s = [30, 60, 120];
        assert_eq!(
            next_delay(&s, 0, Duration::ZERO),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            next_delay(&s, 1, Duration::ZERO),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            next_delay(&s, 2, Duration::ZERO),
            Some(Duration::from_secs(120))
        );
        assert_eq!(next_delay(&s, 3, Duration::ZERO), None);
        // A longer Retry-After is honoured, up to SQS's 900 s.
        assert_eq!(
            next_delay(&s, 0, Duration::from_secs(300)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            next_delay(&s, 1, Duration::from_secs(5000)),
            Some(Duration::from_secs(900))
        );
    }
}
