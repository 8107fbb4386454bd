//! Saying what a delivery did (docs/interface/observability.md): a WARN line
//! and a count per failed attempt, counts of delivered and dropped events,
//! a WARN per kind of drop, the duration of each request.

use std::time::Duration;

use super::deliver::Outcome;
use crate::domain::{Attempt, Hold, RetryMessage};
use crate::observability::metrics;
use crate::outbound::gate::Parked;

/// Attempt `number` of `of` (the first try and the schedule's retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub number: usize,
    pub of: usize,
}

/// The last of `attempts` failed: attempt `numbered.number` of
/// `numbered.of`, tried again after `next` (None: dead-lettered).
pub fn failed_attempt(
    (workspace_id, stream, moe_request_id): (&str, &str, &str),
    attempts: &[Attempt],
    numbered: Numbered,
    next: Option<Duration>,
) {
    let Some(attempt) = attempts.last() else {
        return;
    };
    let status = attempt.status_label();
    metrics::attempt_failed(workspace_id, stream, &status);
    let (number, of) = (numbered.number, numbered.of);
    match next {
        Some(delay) => tracing::warn!(
            workspace_id, stream, moe_request_id, status, error = %attempt.error,
            attempt = number, of, next_delay_seconds = delay.as_secs(),
            "delivery attempt failed; retrying"
        ),
        None => tracing::warn!(
            workspace_id, stream, moe_request_id, status, error = %attempt.error,
            attempt = number, of, "delivery attempt failed; no retries left"
        ),
    }
}

/// Says why a batch waits on the retry queue without an attempt: a paused
/// stream's batches at INFO, each time they are put back (so the log shows
/// what a pause holds), a busy or open stream's at DEBUG.
pub fn parked(message: &RetryMessage, why: Parked) {
    let (workspace_id, stream) = (&message.workspace_id, &message.stream);
    let (moe_request_id, events) = (&message.moe_request_id, message.events.len());
    let wait_seconds = why.wait().as_secs();
    if let Parked::Paused(hold) = why {
        let message = match hold {
            Hold::Config => "batch waits: the stream is paused (enabled = false)",
            Hold::Operator => "batch waits: the stream is paused by an operator",
            Hold::Gone => "batch waits: the stream is disabled (its endpoint answered 410 Gone)",
        };
        tracing::info!(%workspace_id, %stream, %moe_request_id, events, wait_seconds,
            reason = why.as_str(), "{message}");
    } else {
        tracing::debug!(%workspace_id, %stream, %moe_request_id, events, wait_seconds,
            reason = why.as_str(), "batch parked");
    }
}

/// Delivered and dropped events of one delivery, and the time each of its
/// requests took.
pub fn delivered(workspace_id: &str, stream: &str, outcome: &Outcome) {
    for trace in outcome.traces.iter().filter(|t| t.request.is_some()) {
        metrics::delivery_duration(workspace_id, stream, trace.took);
    }
    metrics::events_delivered(workspace_id, stream, outcome.delivered);
    if outcome.dropped > 0 {
        // Only Amplitude drops: it takes no event without a user or device id.
        let reason = "no_user_id_or_device_id";
        metrics::events_dropped(workspace_id, stream, reason, outcome.dropped);
        tracing::warn!(
            workspace_id,
            stream,
            reason,
            count = outcome.dropped,
            "events dropped"
        );
    }
}
