//! What a delivery tells the delivery log (docs/interface/console.md
//! "Delivery log"): one entry per request sent (or per attempt that failed
//! without one), its fate as the retry schedule decides it, the counts of
//! the funnel, and which requests wait. Called once per attempt by
//! dispatch and retry; the recorder writes it later, off their path.

use std::time::Duration;

use super::deliver::Outcome;
use crate::config::{RetrySchedule, StreamConfig, WorkspaceConfig};
use crate::dead_letters::Owner;
use crate::delivery_log::LiveEvent;
use crate::delivery_log::Pending;
use crate::delivery_log::model::{AttemptOutcome, CountKind, EventSummary};
use crate::delivery_log::pending::PendingEntry;
use crate::delivery_log::trace::Trace;
use crate::domain::Event;
use crate::domain::FailureKind;
use crate::domain::time::now_ms;
use crate::outbound::gate::Parked;
use crate::runtime::Services;

/// How an attempt's failure is judged.
#[derive(Clone, Copy)]
pub enum Fate<'a> {
    /// A delivery on the retry schedule: attempt `number` (1 = the first).
    Schedule {
        schedule: &'a RetrySchedule,
        number: usize,
    },
    /// A test send (console, `streams test`): no retry follows.
    Test,
}

/// The entries, counts and waiting changes of one delivery's outcome,
/// before the outcome is turned into follow-ups. The traces' bodies and
/// event summaries move into the log ([`Trace::take_for_log`]).
pub fn outcome(
    log: &mut Pending,
    workspace: &str,
    stream: &StreamConfig,
    outcome: &mut Outcome,
    fate: Fate<'_>,
) {
    let now = now_ms();
    let name = stream.name.as_str();
    log.add_secrets(stream.secret_values());
    let (number, next_of) = match fate {
        Fate::Schedule { schedule, number } => (
            number,
            Some(move |wait: Duration| schedule.delay(number.saturating_sub(1), wait)),
        ),
        Fate::Test => (1, None),
    };
    // Requests whose failure ends them: dead letters now.
    let mut dead: Vec<&str> = outcome.dead.iter().map(|d| d.request_id.as_str()).collect();
    let mut failed_attempts = 0;
    for batch in &outcome.retry {
        let next = next_of.and_then(|next| next(batch.wait_at_least));
        if next_of.is_some() && next.is_none() {
            dead.push(&batch.request_id);
            log.add_count(
                workspace,
                name,
                CountKind::DeadLettered,
                batch.events.len() as u64,
                now,
            );
            log.wait(workspace, name, &batch.request_id, None, now);
        } else if next.is_some() {
            log.wait(
                workspace,
                name,
                &batch.request_id,
                Some(batch.events.len() as u64),
                now,
            );
            if number == 1 {
                log.add_count(
                    workspace,
                    name,
                    CountKind::Retrying,
                    batch.events.len() as u64,
                    now,
                );
            }
        }
    }
    for batch in &outcome.dead {
        log.add_count(
            workspace,
            name,
            CountKind::DeadLettered,
            batch.events.len() as u64,
            now,
        );
        log.wait(workspace, name, &batch.request_id, None, now);
    }
    for trace in &mut outcome.traces {
        let trace = trace.take_for_log();
        let fate = if trace.accepted {
            AttemptOutcome::Delivered
        } else if dead.contains(&trace.request_id.as_str()) {
            AttemptOutcome::DeadLettered
        } else if trace.refused {
            AttemptOutcome::Refused
        } else {
            AttemptOutcome::Failed
        };
        if fate != AttemptOutcome::Delivered {
            failed_attempts += 1;
        }
        if fate == AttemptOutcome::Delivered {
            // Delivered: it no longer waits (if it did: a retry, a parked batch).
            log.wait(workspace, name, &trace.request_id, None, now);
        }
        log.entries
            .push(PendingEntry::of_trace(workspace, name, number, trace, fate));
    }
    let traced: Vec<&str> = outcome
        .traces
        .iter()
        .map(|t| t.request_id.as_str())
        .collect();
    // Failures without a request: an open circuit, an event too large to
    // send, too many partial resends.
    let untraced = outcome
        .retry
        .iter()
        .map(|r| (&r.request_id, &r.events, &r.attempt))
        .chain(
            outcome
                .dead
                .iter()
                .map(|d| (&d.request_id, &d.events, &d.attempt)),
        )
        .filter(|(id, _, _)| !traced.contains(&id.as_str()));
    for (id, events, attempt) in untraced {
        let fate = if dead.contains(&id.as_str()) {
            AttemptOutcome::DeadLettered
        } else if attempt.kind == FailureKind::RefusedDestination {
            AttemptOutcome::Refused
        } else {
            AttemptOutcome::Failed
        };
        failed_attempts += 1;
        let trace = Trace {
            request_id: id.clone(),
            at_ms: now,
            events: EventSummary::of(&events.iter().collect::<Vec<_>>()),
            status: attempt.status,
            error: Some(attempt.error.clone()),
            ..Trace::default()
        };
        log.entries
            .push(PendingEntry::of_trace(workspace, name, number, trace, fate));
    }
    if matches!(fate, Fate::Schedule { .. }) {
        log.add_count(
            workspace,
            name,
            CountKind::Delivered,
            outcome.delivered as u64,
            now,
        );
        log.add_count(
            workspace,
            name,
            CountKind::Dropped,
            outcome.dropped as u64,
            now,
        );
        log.add_count(
            workspace,
            name,
            CountKind::FailedAttempts,
            failed_attempts,
            now,
        );
    }
}

/// A batch as dispatch or retry sends it.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub owner: Owner<'a>,
    pub request_id: &'a str,
    pub events: &'a [Event],
    /// Attempts made before this send.
    pub attempts_made: usize,
    /// Sent by dispatch, the first time.
    pub first: bool,
}

/// What one send of `batch` tells the delivery log (one call per send,
/// from dispatch and retry): its attempt's entries and counts, or, held
/// back without an attempt, that it waits.
pub fn sent(
    services: &Services,
    stream: &StreamConfig,
    batch: Batch<'_>,
    sent: Result<&mut Outcome, Parked>,
) {
    let mut log = Pending::default();
    match sent {
        Ok(delivered) => {
            let fate = Fate::Schedule {
                schedule: &services.retry_schedule,
                number: batch.attempts_made + 1,
            };
            outcome(&mut log, batch.owner.workspace_id, stream, delivered, fate);
        }
        Err(why) => waiting(&mut log, batch, why),
    }
    services.delivery_log.submit(log);
}

/// A batch the gate held back waits. A paused stream's batch gets an entry
/// the first time (from dispatch); every hold refreshes its wait.
fn waiting(log: &mut Pending, held: Batch<'_>, why: Parked) {
    let now = now_ms();
    let Owner {
        workspace_id,
        stream,
    } = held.owner;
    let events = held.events.len() as u64;
    log.wait(workspace_id, stream, held.request_id, Some(events), now);
    if let (Parked::Paused(hold), true) = (why, held.first) {
        let trace = Trace {
            request_id: held.request_id.to_owned(),
            at_ms: now,
            events: EventSummary::of(&held.events.iter().collect::<Vec<_>>()),
            error: Some(format!(
                "not sent: the stream is {}; the batch waits",
                hold.as_str()
            )),
            ..Trace::default()
        };
        let number = held.attempts_made + 1;
        let entry =
            PendingEntry::of_trace(workspace_id, stream, number, trace, AttemptOutcome::Waiting);
        log.entries.push(entry);
    }
}

/// One events-queue message reached dispatch: received and not-selected
/// counts, and the live tail (only built while someone watches it).
pub fn dispatched(
    services: &Services,
    workspace: &WorkspaceConfig,
    events: &[Event],
    streams: &[&StreamConfig],
) {
    let now = now_ms();
    let selected = |event: &Event| -> Vec<String> {
        streams
            .iter()
            .filter(|s| super::selection::selects(s, event))
            .map(|s| s.name.clone())
            .collect()
    };
    let not_selected = events
        .iter()
        .filter(|e| !streams.iter().any(|s| super::selection::selects(s, e)))
        .count();
    let mut log = Pending::default();
    log.add_count(
        &workspace.id,
        "",
        CountKind::Received,
        events.len() as u64,
        now,
    );
    log.add_count(
        &workspace.id,
        "",
        CountKind::NotSelected,
        not_selected as u64,
        now,
    );
    services.delivery_log.submit(log);
    if services.delivery_log.live_watched() {
        for event in events {
            services.delivery_log.publish_live(LiveEvent {
                workspace_id: workspace.id.clone(),
                at_ms: now,
                event_name: event.event_name.clone(),
                event_code: event.event_code.clone(),
                uid: event.uid.clone(),
                source: event.event_source.as_str().to_owned(),
                streams: selected(event),
            });
        }
    }
}
