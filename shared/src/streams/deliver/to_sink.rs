//! Events to one sink as requests within the sink's limits: each event
//! prepared (or dropped: the sink cannot carry it), grouped by size, each
//! group sent as one request (`super::resend`).

use super::super::enrich::Profiles;
use super::super::sink::Sink;
use super::outcome::{Outcome, Undeliverable};
use super::resend::{Prepared, Run, send_request};
use crate::dead_letters::Reason;
use crate::domain::batching::{Limits, group_by_size};
use crate::domain::ids::part_id;
use crate::domain::{Attempt, Event, FailureKind};
use crate::outbound::HttpClient;
use crate::outbound::pace::Pacer;

/// Delivers `events` to the sink as requests within its limits. A single
/// request keeps `request_id`; several get `part_id`s. Adds what came of
/// them to `outcome`.
pub(super) async fn to_sink<S: Sink>(
    sink: &S,
    client: &HttpClient,
    pace: Option<&Pacer>,
    (request_id, events): (&str, &[Event]),
    profiles: &Profiles,
    outcome: &mut Outcome,
) {
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
    let mut run = Run {
        pace,
        renewed: false,
        stop: None,
    };
    let mut prepared = prepared.into_iter();
    for group in groups {
        let group: Vec<Prepared<S::Item>> = prepared.by_ref().take(group.len()).collect();
        let group_events: Vec<&Event> = group.iter().map(|p| &events[p.index]).collect();
        let id = if single {
            request_id.to_owned()
        } else {
            part_id(request_id, group_events.iter().copied())
        };
        if let Some(stop) = &run.stop {
            outcome.not_sent(stop, id, group_events.into_iter().cloned().collect());
            continue;
        }
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
        send_request(sink, client, &mut run, (&id, events), group, outcome).await;
    }
}
