//! What a delivery leaves to do, decided as values (docs/rules/retry.md):
//! each failed part is retried after the schedule's next step or, once the
//! schedule is spent, dead-lettered with every attempt; events a receiver
//! rejected are dead-lettered at once; a batch the gate held back is parked
//! without an attempt. Dispatch and retry decide with these functions and
//! carry the decisions out with [`FollowUps::carry_out`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::deliver::{Outcome, RetryBatch};
use super::report::{self, Numbered};
use crate::config::RetrySchedule;
use crate::dead_letters::{self, Owner, Reason};
use crate::domain::stream_state::hold_key;
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
    /// Keep as a dead letter.
    Dead { letter: DeadLetter, by: DeadBy },
    /// Disable the stream: its endpoint answered `410 Gone`
    /// (`super::control::carry_out` does it).
    Disable {
        workspace_id: String,
        stream: String,
    },
}

/// Why a batch is dead, for what is said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadBy {
    /// The schedule ran out on the letter's last attempt: reported as that
    /// attempt's failure.
    Spent(Numbered),
    /// The receiver rejected the events: counted; the dead letter's own
    /// ERROR line says why.
    Rejected,
    /// An earlier delivery of the message spent the schedule and reported
    /// it, but did not finish keeping the letter.
    SpentEarlier,
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
        None => FollowUp::Dead {
            letter: gave_up(owner, moe_request_id, events, history, schedule),
            by: DeadBy::Spent(attempt),
        },
    }
}

/// The dead letter of a request whose schedule is spent, with its whole
/// `history` and its last error.
fn gave_up(
    owner: Owner<'_>,
    moe_request_id: String,
    events: Vec<Event>,
    history: Vec<Attempt>,
    schedule: &RetrySchedule,
) -> DeadLetter {
    let last_error = history.last().map(|a| a.error.clone()).unwrap_or_default();
    let reason = Reason::GaveUp {
        retries: schedule.retries(),
        last_error,
    };
    dead_letters::batch(owner, moe_request_id, events, history, reason)
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
    let mut follow_ups = Vec::with_capacity(outcome.retry.len() + outcome.dead.len() + 1);
    if outcome.gone.is_some() {
        follow_ups.push(FollowUp::Disable {
            workspace_id: owner.workspace_id.to_owned(),
            stream: owner.stream.to_owned(),
        });
    }
    // Not sent (the stream's rate, a 410): back without an attempt.
    for batch in outcome.parked {
        follow_ups.push(park(
            owner,
            batch.request_id,
            batch.events,
            previous.to_vec(),
            batch.why,
        ));
    }
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
            by: DeadBy::Rejected,
        });
    }
    follow_ups
}

/// A batch whose schedule an earlier delivery spent (its last attempt
/// logged and reported, its dead letter not kept): kept now, with its
/// whole `history`, without another attempt.
pub fn spent(
    owner: Owner<'_>,
    message: &RetryMessage,
    history: Vec<Attempt>,
    schedule: &RetrySchedule,
) -> FollowUp {
    let (id, events) = (message.moe_request_id.clone(), message.events.clone());
    FollowUp::Dead {
        letter: gave_up(owner, id, events, history, schedule),
        by: DeadBy::SpentEarlier,
    }
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
                by,
            } => match by {
                DeadBy::Spent(attempt) => report::failed_attempt(
                    (&batch.workspace_id, &batch.stream, &batch.moe_request_id),
                    &batch.attempts,
                    *attempt,
                    None,
                ),
                DeadBy::Rejected => {
                    let status = batch.attempts.last().map(Attempt::status_label);
                    metrics::attempt_failed(
                        &batch.workspace_id,
                        &batch.stream,
                        status.as_deref().unwrap_or("error"),
                    );
                }
                DeadBy::SpentEarlier => {}
            },
            // Kept letters of other kinds; a disable says so itself.
            FollowUp::Dead { .. } | FollowUp::Disable { .. } => {}
        }
    }
}

/// Decisions to carry out together.
#[derive(Debug, Default)]
pub struct FollowUps(pub Vec<FollowUp>);

impl FollowUps {
    /// The (workspace, stream)s of the batches held for a waiting stream.
    pub fn held_streams(&self) -> Vec<(String, String)> {
        let mut held: Vec<(String, String)> = self
            .0
            .iter()
            .filter_map(|f| match f {
                FollowUp::Park {
                    message,
                    why: Parked::Paused(_),
                } => Some((message.workspace_id.clone(), message.stream.clone())),
                _ => None,
            })
            .collect();
        held.sort();
        held.dedup();
        held
    }

    /// The (workspace, stream)s to disable.
    pub fn disabled_streams(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|f| match f {
                FollowUp::Disable {
                    workspace_id,
                    stream,
                } => Some((workspace_id.clone(), stream.clone())),
                _ => None,
            })
            .collect()
    }

    /// Reports each decision and carries them out (all but disables, which
    /// `super::control::carry_out` does first): retry-queue messages
    /// first (a waiting stream's under its hold key, so a resume can wake
    /// them), then dead letters. An error means not all are durable: the
    /// caller must let its own message be delivered again.
    pub(super) async fn carry_out(
        self,
        retry_queue: &TypedQueue<RetryMessage>,
        dead_letters: &dyn DeadLetterStore,
    ) -> StoreResult<()> {
        let mut later = Vec::new();
        let mut held: BTreeMap<String, Vec<_>> = BTreeMap::new();
        let mut dead = Vec::new();
        for follow_up in self.0 {
            follow_up.report();
            match follow_up {
                FollowUp::Retry { message, delay, .. } => later.push((encode(&message)?, delay)),
                FollowUp::Park {
                    message,
                    why: why @ Parked::Paused(_),
                } => held
                    .entry(hold_key(&message.workspace_id, &message.stream))
                    .or_default()
                    .push((encode(&message)?, why.wait())),
                FollowUp::Park { message, why } => later.push((encode(&message)?, why.wait())),
                FollowUp::Dead { letter, .. } => dead.push(letter),
                FollowUp::Disable { .. } => {}
            }
        }
        retry_queue.send_later(later).await?;
        for (key, messages) in held {
            retry_queue.send_held(&key, messages).await?;
        }
        dead_letters::keep(dead_letters, &dead).await
    }
}

fn encode(message: &RetryMessage) -> StoreResult<Encoded<RetryMessage>> {
    Encoded::new(message).map_err(StoreError::encode("a retry message"))
}
