//! Saying what a delivery did (docs/interface/observability.md): a WARN line
//! and a count per failed attempt, counts of delivered and dropped events,
//! a WARN per kind of drop.

use std::time::Duration;

use super::deliver::Outcome;
use crate::config::destinations::REFUSED;
use crate::domain::Attempt;
use crate::observability::metrics;

/// The `status` label of a failed attempt: its HTTP status, or the kind of
/// failure without one.
pub fn status_label(attempt: &Attempt) -> String {
    if let Some(status) = attempt.status {
        return status.to_string();
    }
    let error = attempt.error.as_str();
    let kind = if error.starts_with(REFUSED) {
        "refused_destination"
    } else if error.contains("timed out") {
        "timeout"
    } else if error.contains("circuit is open") {
        "circuit_open"
    } else if error.contains("connection") {
        "connection"
    } else {
        "error"
    };
    kind.to_owned()
}

/// One failed attempt: attempt `number` of `of`, tried again after `next`
/// (None: dead-lettered).
pub fn failed_attempt(
    workspace_id: &str,
    stream: &str,
    moe_request_id: &str,
    attempt: &Attempt,
    number: usize,
    of: usize,
    next: Option<Duration>,
) {
    let status = status_label(attempt);
    metrics::attempt_failed(workspace_id, stream, &status);
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

/// Delivered and dropped events of one delivery.
pub fn delivered(workspace_id: &str, stream: &str, outcome: &Outcome) {
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
