//! What a delivery leaves to do, decided as values (docs/rules/retry.md):
//! each failed part is retried after the schedule's next step or, once the
//! schedule is spent, dead-lettered with every attempt; events a receiver
//! rejected are dead-lettered at once; a batch the gate held back is parked
//! without an attempt. Dispatch and retry decide with these functions and
//! carry the decisions out with [`FollowUps::carry_out`].

use std::time::Duration;

use super::deliver::{Outcome, RetryBatch};
use super::report::{self, Numbered};
use crate::config::RetrySchedule;
use crate::dead_letters::{self, Owner, Reason};
use crate::domain::{Attempt, DeadLetter, Encoded, Event, RetryMessage};
use crate::observability::metrics;
use crate::outbound::gate::Parked;
use crate::ports::{DeadLetterStore, StoreError, StoreResult};
use crate::queue::TypedQueue;

/// One thing to do after a delivery.
#[derive(Debug)]
pub enum FollowUp {
    /// Send again after `delay`; the message's last attempt is the one that
    /// failed.
    Retry {
        message: RetryMessage,
        delay: Duration,
        attempt: Numbered,
    },
    /// Wait on the retry queue without an attempt (paused, busy, circuit).
    Park { message: RetryMessage, why: Parked },
    /// Keep as a dead letter; `attempt` is set when the schedule ran out on
    /// the letter's last attempt (rather than the receiver rejecting it).
    Dead {
        letter: DeadLetter,
        attempt: Option<Numbered>,
    },
}

/// The next step for a request whose attempts so far are `history`, the
/// last of which failed (asking to wait at least `wait_at_least`).
pub fn after_failure(
    owner: Owner<'_>,
    moe_request_id: String,
    events: Vec<Event>,
    history: Vec<Attempt>,
    wait_at_least: Duration,
    schedule: &RetrySchedule,
) -> FollowUp {
    let attempt = Numbered {
        number: history.len(),
        of: schedule.retries() + 1,
    };
    // The first attempt is dispatch's (or a replay's immediate try); every
    // later one is a retry.
    let retries_done = history.len().saturating_sub(1);
    match schedule.delay(retries_done, wait_at_least) {
        Some(delay) => FollowUp::Retry {
            message: RetryMessage {
                workspace_id: owner.workspace_id.to_owned(),
                stream: owner.stream.to_owned(),
                moe_request_id,
                events,
                attempts: history,
            },
            delay,
            attempt,
        },
        None => {
            let last_error = history.last().map(|a| a.error.clone()).unwrap_or_default();
            let reason = Reason::GaveUp {
                retries: schedule.retries(),
                last_error,
            };
            FollowUp::Dead {
                letter: dead_letters::batch(owner, moe_request_id, events, history, reason),
                attempt: Some(attempt),
            }
        }
    }
}

/// What `outcome` leaves to do for a request whose earlier attempts were
/// `previous`: each part still failing continues as a request of its own,
/// carrying that history.
pub fn after(
    owner: Owner<'_>,
    previous: &[Attempt],
    outcome: Outcome,
    schedule: &RetrySchedule,
) -> Vec<FollowUp> {
    let with = |attempt: Attempt| {
        let mut history = previous.to_vec();
        history.push(attempt);
        history
    };
    let mut follow_ups = Vec::with_capacity(outcome.retry.len() + outcome.dead.len());
    for RetryBatch {
        request_id,
        events,
        attempt,
        wait_at_least,
    } in outcome.retry
    {
        let history = with(attempt);
        follow_ups.push(after_failure(
            owner,
            request_id,
            events,
            history,
            wait_at_least,
            schedule,
        ));
    }
    for batch in outcome.dead {
        let letter = dead_letters::batch(
            owner,
            batch.request_id,
            batch.events,
            with(batch.attempt),
            batch.reason,
        );
        follow_ups.push(FollowUp::Dead {
            letter,
            attempt: None,
        });
    }
    follow_ups
}

/// A batch the gate held back: tried again after `why.wait()`, its
/// attempts so far unchanged (a fresh copy: its receive count starts over,
/// so a long pause never looks like a poison message).
pub fn park(
    owner: Owner<'_>,
    moe_request_id: String,
    events: Vec<Event>,
    attempts: Vec<Attempt>,
    why: Parked,
) -> FollowUp {
    FollowUp::Park {
        message: RetryMessage {
            workspace_id: owner.workspace_id.to_owned(),
            stream: owner.stream.to_owned(),
            moe_request_id,
            events,
            attempts,
        },
        why,
    }
}

impl FollowUp {
    /// Says what was decided (docs/interface/observability.md): a WARN line
    /// and a count per failed attempt, the reason a batch waits.
    pub fn report(&self) {
        match self {
            FollowUp::Retry {
                message,
                delay,
                attempt,
            } => report::failed_attempt(
                (
                    &message.workspace_id,
                    &message.stream,
                    &message.moe_request_id,
                ),
                &message.attempts,
                *attempt,
                Some(*delay),
            ),
            FollowUp::Park { message, why } => report::parked(message, *why),
            FollowUp::Dead {
                letter: DeadLetter::Batch(batch),
                attempt,
            } => match attempt {
                Some(attempt) => report::failed_attempt(
                    (&batch.workspace_id, &batch.stream, &batch.moe_request_id),
                    &batch.attempts,
                    *attempt,
                    None,
                ),
                // Rejected by the receiver: counted; the dead letter's own
                // ERROR line says why.
                None => {
                    let status = batch.attempts.last().map(Attempt::status_label);
                    metrics::attempt_failed(
                        &batch.workspace_id,
                        &batch.stream,
                        status.as_deref().unwrap_or("error"),
                    );
                }
            },
            FollowUp::Dead { .. } => {}
        }
    }
}

/// Decisions to carry out together.
#[derive(Debug, Default)]
pub struct FollowUps(pub Vec<FollowUp>);

impl FollowUps {
    /// Reports each decision and carries them out: retry-queue messages
    /// first, then dead letters. An error means not all are durable: the
    /// caller must let its own message be delivered again.
    pub async fn carry_out(
        self,
        retry_queue: &TypedQueue<RetryMessage>,
        dead_letters: &dyn DeadLetterStore,
    ) -> StoreResult<()> {
        let mut later = Vec::new();
        let mut dead = Vec::new();
        for follow_up in self.0 {
            follow_up.report();
            match follow_up {
                FollowUp::Retry { message, delay, .. } => later.push((encode(&message)?, delay)),
                FollowUp::Park { message, why } => later.push((encode(&message)?, why.wait())),
                FollowUp::Dead { letter, .. } => dead.push(letter),
            }
        }
        retry_queue.send_later(later).await?;
        dead_letters::keep(dead_letters, &dead).await
    }
}

fn encode(message: &RetryMessage) -> StoreResult<Encoded<RetryMessage>> {
    Encoded::new(message).map_err(StoreError::encode("a retry message"))
}
