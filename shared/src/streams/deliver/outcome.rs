//! What came of a delivery: delivered, to retry (the whole request, or the
//! part a receiver asked to wait), dead (the receiver rejected the event
//! itself), parked (not sent), or dropped (the sink cannot carry the event
//! at all). The follow-ups are decided from it (`super::super::follow_up`).

use std::time::Duration;

use crate::dead_letters::Reason;
use crate::delivery_log::trace::Trace;
use crate::domain::{Attempt, Event};
use crate::outbound::gate::Parked;

/// Events to try again later, as a request of their own.
#[derive(Debug)]
pub struct RetryBatch {
    pub request_id: String,
    pub events: Vec<Event>,
    pub attempt: Attempt,
    /// A longer wait the receiver asked for (Retry-After, Amplitude throttling).
    pub wait_at_least: Duration,
}

/// Events that can never be delivered as they are.
#[derive(Debug)]
pub struct Undeliverable {
    pub request_id: String,
    pub events: Vec<Event>,
    pub reason: Reason,
    pub attempt: Attempt,
}

/// Events not sent, without an attempt: parked on the retry queue (the
/// stream's request rate, a `410 Gone`).
#[derive(Debug)]
pub struct ParkedBatch {
    pub request_id: String,
    pub events: Vec<Event>,
    pub why: Parked,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub delivered: usize,
    pub dropped: usize,
    pub retry: Vec<RetryBatch>,
    pub dead: Vec<Undeliverable>,
    /// Each request sent, for the delivery log (`streams::record`) and the
    /// delivery-duration metric (`streams::report`).
    pub traces: Vec<Trace>,
    pub parked: Vec<ParkedBatch>,
    /// The endpoint answered `410 Gone` (this attempt): the stream is to be
    /// disabled.
    pub gone: Option<Attempt>,
}

impl Outcome {
    /// Every event failed as one request, with this attempt.
    pub fn failed(request_id: &str, events: &[Event], attempt: Attempt, wait: Duration) -> Self {
        Self {
            retry: vec![RetryBatch {
                request_id: request_id.to_owned(),
                events: events.to_vec(),
                attempt,
                wait_at_least: wait,
            }],
            ..Self::default()
        }
    }

    /// The whole request failed as one: nothing delivered, dropped or dead,
    /// one retry batch holding every one of the `sent` events.
    pub fn whole_failure(&self, sent: usize) -> Option<&RetryBatch> {
        match self.retry.as_slice() {
            [only]
                if only.events.len() == sent
                    && self.delivered == 0
                    && self.dropped == 0
                    && self.dead.is_empty()
                    && self.parked.is_empty() =>
            {
                Some(only)
            }
            _ => None,
        }
    }

    /// Events not sent because the delivery stopped: they wait (parked) or
    /// fail with the attempt that stopped it.
    pub(super) fn not_sent(&mut self, stop: &Stop, request_id: String, events: Vec<Event>) {
        match stop {
            Stop::Park(why) => self.parked.push(ParkedBatch {
                request_id,
                events,
                why: *why,
            }),
            Stop::Fail(attempt) => self.retry.push(RetryBatch {
                request_id,
                events,
                attempt: attempt.clone(),
                wait_at_least: Duration::ZERO,
            }),
        }
    }
}

/// Why a delivery sends no more requests: the rest waits (parked) or
/// fails with the same attempt (the credentials could not be had).
#[derive(Clone)]
pub(super) enum Stop {
    Park(Parked),
    Fail(Attempt),
}
