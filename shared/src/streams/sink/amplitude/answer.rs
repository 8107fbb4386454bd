//! Reading Amplitude's answers (docs/rules/amplitude-export.md "Limits and
//! Amplitude's answers"): 400 naming bad or silenced events, 429 (or 400)
//! naming throttled users, devices or events, 413.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::AmplitudeEvent;
use crate::domain::Attempt;
use crate::streams::sink::Answer;

/// Amplitude asks throttled users/devices to pause 30 s.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    events_with_invalid_fields: Option<Map<String, Value>>,
    #[serde(default)]
    events_with_missing_fields: Option<Map<String, Value>>,
    #[serde(default)]
    throttled_users: Option<Map<String, Value>>,
    #[serde(default)]
    throttled_devices: Option<Map<String, Value>>,
    /// 400 "Events silenced for device_id": positions and devices Amplitude
    /// silences (it drops their events), and positions it throttles.
    #[serde(default)]
    silenced_events: Option<Vec<Value>>,
    #[serde(default)]
    silenced_devices: Option<Vec<Value>>,
    #[serde(default)]
    throttled_events: Option<Vec<Value>>,
}

/// Positions named by index, within the request.
fn positions(indices: Option<&Vec<Value>>, len: usize) -> impl Iterator<Item = usize> + '_ {
    indices
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|i| i as usize)
        .filter(move |i| *i < len)
}

fn keys(map: Option<Map<String, Value>>) -> HashSet<String> {
    map.map(|m| m.into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default()
}

/// What `status` and `body` mean for the request's `events`.
pub fn interpret(
    status: u16,
    retry_after: Duration,
    body: &str,
    events: &[&AmplitudeEvent],
) -> Answer {
    let failed = |error: String| Answer::Failed {
        attempt: Attempt::answered(status, error),
        wait: retry_after,
    };
    if (200..300).contains(&status) {
        return Answer::Accepted;
    }
    if status == 413 {
        return Answer::TooLarge;
    }
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    match status {
        400 => {
            let rejected = rejected(&parsed, events);
            if !rejected.is_empty() {
                return Answer::Rejected(rejected);
            }
            // A 400 that throttles (next to silencing) is a 429 for those events.
            match throttled(&parsed, status, retry_after, events) {
                Some(answer) => answer,
                None => failed(format!("HTTP 400: {}", parsed.error.unwrap_or_default())),
            }
        }
        429 => throttled(&parsed, status, retry_after, events)
            .unwrap_or_else(|| failed("HTTP 429: rate limited".into())),
        _ => failed(format!("HTTP {status}")),
    }
}

/// The events a 400 says Amplitude will never take as they are: those
/// `events_with_invalid_fields` / `events_with_missing_fields` list, and
/// those of devices it silenced (it drops their events).
fn rejected(parsed: &ErrorBody, events: &[&AmplitudeEvent]) -> Vec<(usize, String)> {
    let mut rejected: Vec<(usize, String)> = Vec::new();
    let mut reject = |index: usize, reason: String| {
        if !rejected.iter().any(|(i, _)| *i == index) {
            rejected.push((index, reason));
        }
    };
    for (kind, fields) in [
        ("invalid", &parsed.events_with_invalid_fields),
        ("missing", &parsed.events_with_missing_fields),
    ] {
        for (field, indices) in fields.iter().flatten() {
            for index in positions(indices.as_array(), events.len()) {
                reject(
                    index,
                    format!("Amplitude rejected the event: {kind} field {field}"),
                );
            }
        }
    }
    let silenced_devices: HashSet<&str> = parsed
        .silenced_devices
        .iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let by_device = events.iter().enumerate().filter(|(_, e)| {
        e.device_id
            .as_deref()
            .is_some_and(|d| silenced_devices.contains(d))
    });
    let silenced: Vec<usize> = positions(parsed.silenced_events.as_ref(), events.len())
        .chain(by_device.map(|(i, _)| i))
        .collect();
    for index in silenced {
        reject(index, "Amplitude silenced the event's device".into());
    }
    rejected
}

/// The events of throttled users and devices (and throttled positions):
/// they wait at least [`THROTTLE_PAUSE`]; None when none is named.
fn throttled(
    parsed: &ErrorBody,
    status: u16,
    retry_after: Duration,
    events: &[&AmplitudeEvent],
) -> Option<Answer> {
    let users = keys(parsed.throttled_users.clone());
    let devices = keys(parsed.throttled_devices.clone());
    let named: HashSet<usize> = positions(parsed.throttled_events.as_ref(), events.len()).collect();
    let positions: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            named.contains(i)
                || e.user_id.as_ref().is_some_and(|u| users.contains(u))
                || e.device_id.as_ref().is_some_and(|d| devices.contains(d))
        })
        .map(|(i, _)| i)
        .collect();
    (!positions.is_empty()).then(|| Answer::Throttled {
        positions,
        attempt: Attempt::answered(status, format!("HTTP {status}: throttled users or devices")),
        wait: THROTTLE_PAUSE.max(retry_after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, device: &str) -> AmplitudeEvent {
        AmplitudeEvent {
            json: "{}".into(),
            user_id: Some(user.into()),
            device_id: Some(device.into()),
        }
    }

    #[test]
    fn answers_are_read_per_the_http_v2_api() {
        let events = [event("u0", "d0"), event("u1", "d1"), event("u2", "d2")];
        let events: Vec<&AmplitudeEvent> = events.iter().collect();
        let read = |status, body| interpret(status, Duration::ZERO, body, &events);
        assert_eq!(read(200, "{}"), Answer::Accepted);
        assert_eq!(read(413, ""), Answer::TooLarge);
        assert!(
            matches!(read(503, ""), Answer::Failed { attempt, .. } if attempt.status == Some(503))
        );
        assert!(matches!(
            read(400, r#"{"error":"bad"}"#),
            Answer::Failed { .. }
        ));
        match read(
            400,
            r#"{"events_with_missing_fields":{"event_type":[0,2]}}"#,
        ) {
            Answer::Rejected(bad) => {
                assert_eq!(bad.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 2])
            }
            other => panic!("{other:?}"),
        }
        match read(429, r#"{"throttled_devices":{"d1":40}}"#) {
            Answer::Throttled {
                positions, wait, ..
            } => {
                assert_eq!(positions, vec![1]);
                assert_eq!(wait, THROTTLE_PAUSE);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read(429, "{}"), Answer::Failed { .. }));
    }

    /// Amplitude's published answers (tests/fixtures/amplitude, from its
    /// HTTP V2 documentation), for a request of 8 events.
    #[test]
    fn amplitudes_published_answers() {
        let events: Vec<AmplitudeEvent> = (0..8)
            .map(|i| event(&format!("u{i}"), &format!("d{i}")))
            .collect();
        let events: Vec<&AmplitudeEvent> = events.iter().collect();
        let read = |name: &str| {
            let path = format!(
                "{}/../tests/fixtures/amplitude/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let body = std::fs::read_to_string(path).unwrap();
            let code: Value = serde_json::from_str(&body).unwrap();
            let status = code["code"].as_u64().unwrap() as u16;
            interpret(status, Duration::ZERO, &body, &events)
        };
        let indices = |answer: Answer| match answer {
            Answer::Rejected(bad) => bad.into_iter().map(|(i, _)| i).collect::<Vec<_>>(),
            Answer::Throttled { positions, .. } => positions,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            indices(read("httpapi-response-400-missing-fields")),
            vec![3]
        );
        assert_eq!(
            indices(read("httpapi-response-400-invalid-and-missing-fields-2023")),
            vec![3, 4, 7]
        );
        // Silenced events are dead; the next answer throttles the rest.
        assert_eq!(
            indices(read("httpapi-response-400-silenced-devices")),
            vec![5, 6]
        );
        assert_eq!(indices(read("httpapi-response-429")), vec![3, 4, 7]);
        assert_eq!(read("httpapi-response-413"), Answer::TooLarge);
        assert!(matches!(
            read("httpapi-response-403-waf"),
            Answer::Failed { attempt, .. } if attempt.status == Some(403)
        ));
        let throttled_in_a_400 = interpret(
            400,
            Duration::ZERO,
            r#"{"error":"Events silenced for device_id","throttled_events":[1]}"#,
            &events,
        );
        assert!(
            matches!(throttled_in_a_400, Answer::Throttled { ref positions, wait, .. }
                if positions == &vec![1] && wait == THROTTLE_PAUSE)
        );
    }

    #[test]
    fn indices_outside_the_request_are_ignored() {
        let events = [event("u0", "d0")];
        let events: Vec<&AmplitudeEvent> = events.iter().collect();
        let answer = interpret(
            400,
            Duration::ZERO,
            r#"{"events_with_invalid_fields":{"time":[0,0,7]}}"#,
            &events,
        );
        assert_eq!(
            answer,
            Answer::Rejected(vec![(
                0,
                "Amplitude rejected the event: invalid field time".into()
            )])
        );
    }
}
