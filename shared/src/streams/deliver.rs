//! Delivering events to one stream through its sink, and what came of it:
//! delivered, to retry (the whole request, or the part a receiver asked to
//! wait), dead (the receiver rejected the event itself), or dropped (the
//! sink cannot carry the event at all). Written once for every sink
//! (docs/architecture.md "Streams").

use std::collections::VecDeque;
use std::time::Duration;

use super::enrich::Profiles;
use super::sink::amplitude::AmplitudeSink;
use super::sink::webhook::WebhookSink;
use super::sink::{Answer, Sink};
use crate::config::{SinkConfig, StreamConfig, WorkspaceConfig};
use crate::dead_letters::Reason;
use crate::delivery_log::model::EventSummary;
use crate::delivery_log::trace::{self, Trace};
use crate::domain::batching::{Limits, group_by_size};
use crate::domain::ids::derived_uuid;
use crate::domain::time::now_ms;
use crate::domain::{Attempt, Event, FailureKind};
use crate::observability::metrics;
use crate::outbound::HttpClient;
use crate::outbound::client::SendError;

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

#[derive(Debug, Default)]
pub struct Outcome {
    pub delivered: usize,
    pub dropped: usize,
    pub retry: Vec<RetryBatch>,
    pub dead: Vec<Undeliverable>,
    /// Each request sent, for the delivery log (`super::record`).
    pub traces: Vec<Trace>,
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
                    && self.dead.is_empty() =>
            {
                Some(only)
            }
            _ => None,
        }
    }
}

/// The `moe_request_id` of a part of request `base` (a split request, or
/// the throttled part of one): derived from its events, so the same part
/// gets the same id whenever it is derived again.
pub fn part_id(base: &str, events: &[&Event]) -> String {
    let uuids: Vec<&str> = events.iter().map(|e| e.event_uuid.as_str()).collect();
    derived_uuid(&[base, "part", &uuids.join(",")])
}

/// Bound on partial resends within one delivery (Amplitude 400/429/413).
const MAX_ROUNDS: usize = 16;

/// Whose delivery this is, for the metrics.
#[derive(Clone, Copy)]
pub struct Labels<'a> {
    pub workspace_id: &'a str,
    pub stream: &'a str,
}

/// One prepared event: its position in the delivery's events.
struct Prepared<T> {
    index: usize,
    item: T,
}

/// Delivers `events` to the sink as requests within its limits. A single
/// request keeps `request_id`; several get [`part_id`]s.
pub async fn deliver<S: Sink>(
    sink: &S,
    client: &HttpClient,
    labels: Labels<'_>,
    request_id: &str,
    events: &[Event],
    profiles: &Profiles,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut prepared = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        match sink.prepare(event, profiles.of(event)) {
            Some(item) => prepared.push(Prepared { index, item }),
            None => outcome.dropped += 1,
        }
    }
    let limits = Limits {
        max_items: sink.max_events(),
        max_bytes: sink.max_bytes(),
        overhead: sink.envelope_bytes(),
        separator: 1,
    };
    let groups = group_by_size(prepared.iter().map(|p| sink.encoded_len(&p.item)), limits);
    let single = groups.len() == 1;
    let mut prepared = prepared.into_iter();
    for group in groups {
        let group: Vec<Prepared<S::Item>> = prepared.by_ref().take(group.len()).collect();
        let group_events: Vec<&Event> = group.iter().map(|p| &events[p.index]).collect();
        let id = if single {
            request_id.to_owned()
        } else {
            part_id(request_id, &group_events)
        };
        if let [one] = group.as_slice()
            && !limits.fits(sink.encoded_len(&one.item))
        {
            let reason = Reason::EventTooLarge {
                max_bytes: limits.max_bytes,
            };
            outcome.dead.push(Undeliverable {
                request_id: id,
                events: vec![events[one.index].clone()],
                attempt: Attempt::unanswered(FailureKind::Other, reason.to_string()),
                reason,
            });
            continue;
        }
        send_request(sink, client, labels, &id, events, group, &mut outcome).await;
    }
    outcome
}

/// Sends one request, acting on partial answers (resend the rest at once,
/// split what is too large) until every event has an outcome.
async fn send_request<S: Sink>(
    sink: &S,
    client: &HttpClient,
    labels: Labels<'_>,
    request_id: &str,
    events: &[Event],
    request: Vec<Prepared<S::Item>>,
    outcome: &mut Outcome,
) {
    let total = request.len();
    let owned = |group: &[Prepared<S::Item>]| -> Vec<Event> {
        group.iter().map(|p| events[p.index].clone()).collect()
    };
    // A part of the request keeps the request's id only when it is all of it.
    let id_of = |group: &[Prepared<S::Item>]| -> String {
        if group.len() == total {
            request_id.to_owned()
        } else {
            part_id(
                request_id,
                &group.iter().map(|p| &events[p.index]).collect::<Vec<_>>(),
            )
        }
    };
    let mut pending: VecDeque<Vec<Prepared<S::Item>>> = VecDeque::from([request]);
    let mut rounds = 0;
    while let Some(group) = pending.pop_front() {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            let mut rest = group;
            rest.extend(pending.drain(..).flatten());
            outcome.retry.push(RetryBatch {
                request_id: id_of(&rest),
                events: owned(&rest),
                attempt: Attempt::unanswered(
                    FailureKind::Other,
                    "too many partial resends in one delivery",
                ),
                wait_at_least: Duration::ZERO,
            });
            break;
        }
        let items: Vec<&S::Item> = group.iter().map(|p| &p.item).collect();
        let started = std::time::Instant::now();
        let mut trace = Trace {
            request_id: id_of(&group),
            at_ms: now_ms(),
            ..Trace::default()
        };
        let sent = match sink.request(client.builder(), request_id, &items).build() {
            Ok(request) => {
                let (sent, body) = trace::request(&request);
                (trace.request, trace.body) = (Some(sent), body);
                client.execute(request).await
            }
            Err(e) => Err(SendError::of(e)),
        };
        metrics::delivery_duration(labels.workspace_id, labels.stream, started.elapsed());
        let answer = match sent {
            // Redirects are not followed: they could lead past the
            // destination check (docs/interface/streams.md "Destinations").
            Ok(response) if response.status().is_redirection() => {
                let status = response.status().as_u16();
                trace.response = Some(trace::response(status, response.headers(), ""));
                Answer::Failed {
                    attempt: Attempt::answered(
                        status,
                        format!(
                            "HTTP {status}: the destination redirects, and redirects are not followed"
                        ),
                    ),
                    wait: Duration::ZERO,
                }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(&response);
                let headers = response.headers().clone();
                let body = response.text().await.unwrap_or_default();
                trace.response = Some(trace::response(status, &headers, &body));
                sink.classify(status, retry_after, &body, &items)
            }
            Err(e) => Answer::Failed {
                attempt: Attempt::unanswered(e.kind(), e.to_string()),
                wait: Duration::ZERO,
            },
        };
        trace.latency_ms = started.elapsed().as_millis() as u64;
        trace.events =
            EventSummary::of(&group.iter().map(|p| &events[p.index]).collect::<Vec<_>>());
        trace.status = trace.response.as_ref().map(|r| r.status);
        trace.accepted = answer == Answer::Accepted;
        trace.error = match &answer {
            Answer::Accepted => None,
            Answer::Failed { attempt, .. } | Answer::Throttled { attempt, .. } => {
                trace.refused = attempt.kind == FailureKind::RefusedDestination;
                Some(attempt.error.clone())
            }
            Answer::Rejected(bad) => Some(format!(
                "{} of {} events rejected: {}",
                bad.len(),
                group.len(),
                bad.first().map(|(_, why)| why.as_str()).unwrap_or_default()
            )),
            Answer::TooLarge => Some("HTTP 413: too large, split and sent again".into()),
        };
        outcome.traces.push(trace);
        match answer {
            Answer::Accepted => outcome.delivered += group.len(),
            Answer::Failed { attempt, wait } => outcome.retry.push(RetryBatch {
                request_id: id_of(&group),
                events: owned(&group),
                attempt,
                wait_at_least: wait,
            }),
            Answer::Rejected(bad) => {
                let mut rest = Vec::new();
                for (position, prepared) in group.into_iter().enumerate() {
                    match bad.iter().find(|(p, _)| *p == position) {
                        Some((_, reason)) => outcome.dead.push(Undeliverable {
                            request_id: id_of(std::slice::from_ref(&prepared)),
                            events: vec![events[prepared.index].clone()],
                            attempt: Attempt::answered(400, reason.clone()),
                            reason: Reason::Rejected(reason.clone()),
                        }),
                        None => rest.push(prepared),
                    }
                }
                if !rest.is_empty() {
                    pending.push_front(rest);
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
                outcome.retry.push(RetryBatch {
                    request_id: id_of(&throttled),
                    events: owned(&throttled),
                    attempt,
                    wait_at_least: wait,
                });
                if !rest.is_empty() {
                    pending.push_front(rest);
                }
            }
            Answer::TooLarge if group.len() > 1 => {
                let mut first = group;
                let second = first.split_off(first.len() / 2);
                pending.push_front(second);
                pending.push_front(first);
            }
            Answer::TooLarge => outcome.dead.push(Undeliverable {
                request_id: id_of(&group),
                events: owned(&group),
                reason: Reason::ReceiverTooLarge,
                attempt: Attempt::answered(413, "HTTP 413"),
            }),
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default()
}

/// Delivers `events` to `stream` through the sink its configuration names.
/// The events are as queued: each sink fills them in from the profiles at
/// send time, so a retry message holds no more than the events message it
/// came from.
pub async fn deliver_to_stream(
    client: &HttpClient,
    workspace: &WorkspaceConfig,
    stream: &StreamConfig,
    profiles: &Profiles,
    request_id: &str,
    events: &[Event],
) -> Outcome {
    let labels = Labels {
        workspace_id: &workspace.id,
        stream: &stream.name,
    };
    match &stream.sink {
        SinkConfig::Webhook(config) => {
            let sink = WebhookSink {
                stream,
                config,
                app_name: &workspace.app_name,
            };
            deliver(&sink, client, labels, request_id, events, profiles).await
        }
        SinkConfig::Amplitude(config) => {
            let sink = AmplitudeSink {
                stream,
                config,
                anonymous_id_attribute: &workspace.anonymous_id_attribute,
                customerio: workspace.customerio.as_ref(),
            };
            deliver(&sink, client, labels, request_id, events, profiles).await
        }
    }
}
