//! Sending one batch to one stream and classifying what happened: delivered,
//! to retry (whole batch, or Amplitude's throttled subset), dead (Amplitude
//! rejected the event itself), or dropped (no Amplitude id at all).

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use crate::config::{StreamConfig, StreamType, WorkspaceConfig};
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::domain::{Attempt, Event};

use super::amplitude::{self, Answer};
use super::client::describe;
use super::enrich::Profiles;
use super::webhook;

/// Events to try again later, and why.
#[derive(Debug)]
pub struct RetryBatch {
    pub events: Vec<Event>,
    pub attempt: Attempt,
    /// A longer wait the receiver asked for (Retry-After, Amplitude throttling).
    pub wait_at_least: Duration,
}

/// Events that can never be delivered as they are.
#[derive(Debug)]
pub struct DeadBatch {
    pub events: Vec<Event>,
    pub reason: String,
    pub attempt: Attempt,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub delivered: usize,
    pub dropped: usize,
    pub retry: Vec<RetryBatch>,
    pub dead: Vec<DeadBatch>,
}

/// Amplitude asks throttled users/devices to pause 30 s (reference.md).
const AMPLITUDE_THROTTLE_PAUSE: Duration = Duration::from_secs(30);
/// Bound on partial resends within one delivery.
const MAX_AMPLITUDE_ROUNDS: usize = 16;

pub fn attempt(status: Option<u16>, error: impl Into<String>) -> Attempt {
    Attempt {
        at: rfc3339_ms(now_ms()),
        status,
        error: error.into(),
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

pub async fn deliver(
    http: &reqwest::Client,
    workspace: &WorkspaceConfig,
    profiles: &Profiles,
    stream: &StreamConfig,
    request_id: &str,
    events: Vec<Event>,
) -> Outcome {
    match stream.stream_type {
        StreamType::Webhook => deliver_webhook(http, workspace, stream, request_id, events).await,
        StreamType::Amplitude => deliver_amplitude(http, workspace, profiles, stream, events).await,
    }
}

async fn deliver_webhook(
    http: &reqwest::Client,
    workspace: &WorkspaceConfig,
    stream: &StreamConfig,
    request_id: &str,
    events: Vec<Event>,
) -> Outcome {
    let body = webhook::body(&workspace.app_name, request_id, &events);
    let failure = match webhook::request(http, stream, &body).send().await {
        Ok(response) if response.status().is_success() => {
            return Outcome {
                delivered: events.len(),
                ..Outcome::default()
            };
        }
        Ok(response) => {
            let status = response.status().as_u16();
            (
                attempt(Some(status), format!("HTTP {status}")),
                retry_after(&response),
            )
        }
        Err(e) => (attempt(None, describe(e)), Duration::ZERO),
    };
    Outcome {
        retry: vec![RetryBatch {
            events,
            attempt: failure.0,
            wait_at_least: failure.1,
        }],
        ..Outcome::default()
    }
}

async fn deliver_amplitude(
    http: &reqwest::Client,
    workspace: &WorkspaceConfig,
    profiles: &Profiles,
    stream: &StreamConfig,
    events: Vec<Event>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut mapped = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match amplitude::map_event(event, profiles.of(event), &workspace.anonymous_id_attribute) {
            Some(value) => mapped.push((index, value)),
            None => outcome.dropped += 1,
        }
    }
    let api_key = stream
        .api_key
        .as_ref()
        .map(|k| k.expose())
        .unwrap_or_default();
    let take = |group: &[(usize, Value)]| {
        group
            .iter()
            .map(|(i, _)| events[*i].clone())
            .collect::<Vec<_>>()
    };
    let mut pending: VecDeque<Vec<(usize, Value)>> = amplitude::split_requests(mapped).into();
    let mut rounds = 0;
    while let Some(group) = pending.pop_front() {
        rounds += 1;
        if rounds > MAX_AMPLITUDE_ROUNDS {
            let mut rest = take(&group);
            rest.extend(pending.drain(..).flat_map(|g| take(&g)));
            outcome.retry.push(RetryBatch {
                events: rest,
                attempt: attempt(None, "too many partial resends in one delivery"),
                wait_at_least: Duration::ZERO,
            });
            break;
        }
        let payload: Vec<Value> = group.iter().map(|(_, v)| v.clone()).collect();
        let request = http
            .post(amplitude::endpoint(stream))
            .timeout(Duration::from_secs(u64::from(stream.timeout_seconds)))
            .json(&amplitude::body(api_key, &payload));
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                outcome.retry.push(RetryBatch {
                    events: take(&group),
                    attempt: attempt(None, describe(e)),
                    wait_at_least: Duration::ZERO,
                });
                continue;
            }
        };
        let status = response.status().as_u16();
        let wait = retry_after(&response);
        let text = response.text().await.unwrap_or_default();
        match amplitude::interpret(status, &text) {
            Answer::Accepted => outcome.delivered += group.len(),
            Answer::Rejected(bad) => {
                let mut rest = Vec::new();
                for (position, item) in group.into_iter().enumerate() {
                    match bad.iter().find(|(p, _)| *p == position) {
                        Some((_, reason)) => outcome.dead.push(DeadBatch {
                            events: vec![events[item.0].clone()],
                            reason: reason.clone(),
                            attempt: attempt(Some(400), reason.clone()),
                        }),
                        None => rest.push(item),
                    }
                }
                // The rest is resent at once.
                if !rest.is_empty() {
                    pending.push_front(rest);
                }
            }
            Answer::Throttled { users, devices } => {
                let (throttled, rest): (Vec<_>, Vec<_>) = group
                    .into_iter()
                    .partition(|(_, v)| amplitude::is_throttled(v, &users, &devices));
                if !throttled.is_empty() {
                    outcome.retry.push(RetryBatch {
                        events: take(&throttled),
                        attempt: attempt(Some(429), "HTTP 429: throttled users or devices"),
                        wait_at_least: AMPLITUDE_THROTTLE_PAUSE.max(wait),
                    });
                }
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
            Answer::TooLarge => outcome.dead.push(DeadBatch {
                events: take(&group),
                reason: "Amplitude answered 413 for a single event".into(),
                attempt: attempt(Some(413), "HTTP 413"),
            }),
            Answer::Failed { status, error } => outcome.retry.push(RetryBatch {
                events: take(&group),
                attempt: attempt(Some(status), error),
                wait_at_least: wait,
            }),
        }
    }
    outcome
}
