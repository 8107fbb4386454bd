//! One request of a delivery until each of its events has an outcome: what
//! the receiver accepts is delivered; on a partial answer the rest is sent
//! again at once (Amplitude's 400 and 429 name the events), a `413` splits
//! the request, a `401` renews the credentials once, a `410` or the stream's
//! request rate stops the delivery.

use std::collections::VecDeque;
use std::time::Duration;

use super::super::sink::{Answer, Sink};
use super::outcome::{Outcome, RetryBatch, Stop, Undeliverable};
use super::request::send_one;
use crate::dead_letters::Reason;
use crate::domain::ids::part_id;
use crate::domain::{Attempt, Event, FailureKind, Hold};
use crate::outbound::HttpClient;
use crate::outbound::gate::Parked;
use crate::outbound::pace::{PATIENCE, Pacer};

/// Bound on partial resends within one delivery (Amplitude 400/429/413).
const MAX_ROUNDS: usize = 16;

/// One prepared event: its position in the delivery's events.
pub(super) struct Prepared<T> {
    pub index: usize,
    pub item: T,
}

/// What one delivery carries from request to request.
pub(super) struct Run<'a> {
    /// `max_requests_per_second`'s pacer, when the stream sets it.
    pub pace: Option<&'a Pacer>,
    /// The credentials were renewed once after a `401` already.
    pub renewed: bool,
    pub stop: Option<Stop>,
}

/// The events of one request and how to name its parts.
struct Request<'a, T> {
    request_id: &'a str,
    events: &'a [Event],
    total: usize,
    pending: VecDeque<Vec<Prepared<T>>>,
}

impl<T> Request<'_, T> {
    fn events_of(&self, group: &[Prepared<T>]) -> Vec<&Event> {
        group.iter().map(|p| &self.events[p.index]).collect()
    }

    fn owned(&self, group: &[Prepared<T>]) -> Vec<Event> {
        group.iter().map(|p| self.events[p.index].clone()).collect()
    }

    /// A part keeps the request's id only when it is all of it.
    fn id_of(&self, group: &[Prepared<T>]) -> String {
        if group.len() == self.total {
            self.request_id.to_owned()
        } else {
            part_id(self.request_id, group.iter().map(|p| &self.events[p.index]))
        }
    }

    /// `group` and every part still pending, as one.
    fn rest(&mut self, group: Vec<Prepared<T>>) -> Vec<Prepared<T>> {
        let mut rest = group;
        rest.extend(self.pending.drain(..).flatten());
        rest
    }

    fn retry(&self, group: &[Prepared<T>], attempt: Attempt, wait: Duration) -> RetryBatch {
        RetryBatch {
            request_id: self.id_of(group),
            events: self.owned(group),
            attempt,
            wait_at_least: wait,
        }
    }

    /// Ends the delivery at `group`: it and the pending parts are not sent.
    fn stop(&mut self, group: Vec<Prepared<T>>, stop: Stop, run: &mut Run, outcome: &mut Outcome) {
        let rest = self.rest(group);
        outcome.not_sent(&stop, self.id_of(&rest), self.owned(&rest));
        run.stop = Some(stop);
    }
}

/// Sends one request, acting on partial answers until every event has an
/// outcome.
pub(super) async fn send_request<S: Sink>(
    sink: &S,
    client: &HttpClient,
    run: &mut Run<'_>,
    (request_id, events): (&str, &[Event]),
    request: Vec<Prepared<S::Item>>,
    outcome: &mut Outcome,
) {
    let mut this = Request {
        request_id,
        events,
        total: request.len(),
        pending: VecDeque::from([request]),
    };
    let mut rounds = 0;
    while let Some(group) = this.pending.pop_front() {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            let rest = this.rest(group);
            let attempt = Attempt::unanswered(
                FailureKind::Other,
                "too many partial resends in one delivery",
            );
            outcome
                .retry
                .push(this.retry(&rest, attempt, Duration::ZERO));
            break;
        }
        if let Some(stop) = before_request(sink, client, run).await {
            this.stop(group, stop, run, outcome);
            break;
        }
        let items: Vec<&S::Item> = group.iter().map(|p| &p.item).collect();
        let id = this.id_of(&group);
        let (answer, trace) = send_one(
            sink,
            client,
            (request_id, id),
            &items,
            &this.events_of(&group),
        )
        .await;
        outcome.traces.push(trace);
        match answer {
            Answer::Accepted => outcome.delivered += group.len(),
            Answer::Failed { attempt, wait } => {
                outcome.retry.push(this.retry(&group, attempt, wait))
            }
            Answer::Rejected(bad) => {
                let mut rest = Vec::new();
                for (position, prepared) in group.into_iter().enumerate() {
                    match bad.iter().find(|(p, _)| *p == position) {
                        Some((_, reason)) => outcome.dead.push(Undeliverable {
                            request_id: this.id_of(std::slice::from_ref(&prepared)),
                            events: vec![events[prepared.index].clone()],
                            attempt: Attempt::answered(400, reason.clone()),
                            reason: Reason::Rejected(reason.clone()),
                        }),
                        None => rest.push(prepared),
                    }
                }
                if !rest.is_empty() {
                    this.pending.push_front(rest);
                }
            }
            Answer::Throttled {
                positions,
                attempt,
                wait,
            } => {
                let (throttled, rest): (Vec<_>, Vec<_>) = group
                    .into_iter()
                    .enumerate()
                    .partition(|(position, _)| positions.contains(position));
                let throttled: Vec<_> = throttled.into_iter().map(|(_, p)| p).collect();
                let rest: Vec<_> = rest.into_iter().map(|(_, p)| p).collect();
                outcome.retry.push(this.retry(&throttled, attempt, wait));
                if !rest.is_empty() {
                    this.pending.push_front(rest);
                }
            }
            Answer::TooLarge if group.len() > 1 => {
                let mut first = group;
                let second = first.split_off(first.len() / 2);
                this.pending.push_front(second);
                this.pending.push_front(first);
            }
            Answer::TooLarge => outcome.dead.push(Undeliverable {
                request_id: this.id_of(&group),
                events: this.owned(&group),
                reason: Reason::ReceiverTooLarge,
                attempt: Attempt::answered(413, "HTTP 413"),
            }),
            Answer::Unauthorized(refused) if run.renewed => {
                outcome
                    .retry
                    .push(this.retry(&group, refused, Duration::ZERO));
            }
            Answer::Unauthorized(_) => {
                run.renewed = true;
                match sink.authorize(client, true).await {
                    Ok(()) => this.pending.push_front(group),
                    Err(failed) => {
                        this.stop(group, Stop::Fail(failed), run, outcome);
                        break;
                    }
                }
            }
            Answer::Gone(answer) => {
                outcome.gone = Some(answer);
                this.stop(group, Stop::Park(Parked::Paused(Hold::Gone)), run, outcome);
                break;
            }
        }
    }
}

/// Before each request: the stream's request slot (waiting for it at most
/// `pace::PATIENCE`) and the credentials fetched at send time. `Some`: the
/// delivery stops here.
async fn before_request<S: Sink>(sink: &S, client: &HttpClient, run: &Run<'_>) -> Option<Stop> {
    if let Some(pacer) = run.pace
        && let Err(retry_in) = pacer.turn(PATIENCE).await
    {
        return Some(Stop::Park(Parked::Paced { retry_in }));
    }
    sink.authorize(client, false).await.err().map(Stop::Fail)
}
