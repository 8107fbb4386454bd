//! Reading Amplitude's answers (docs/rules/amplitude-export.md "Answers"):
//! 400 naming bad events, 429 naming throttled users or devices, 413.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::AmplitudeEvent;
use crate::streams::sink::Answer;
use crate::streams::sink::attempt;

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
        attempt: attempt(Some(status), error),
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
            let mut rejected = Vec::new();
            for (kind, fields) in [
                ("invalid", &parsed.events_with_invalid_fields),
                ("missing", &parsed.events_with_missing_fields),
            ] {
                for (field, indices) in fields.iter().flatten() {
                    let positions = indices.as_array().into_iter().flatten();
                    for index in positions.filter_map(Value::as_u64) {
                        let index = index as usize;
                        if index < events.len() && !rejected.iter().any(|(i, _)| *i == index) {
                            rejected.push((
                                index,
                                format!("Amplitude rejected the event: {kind} field {field}"),
                            ));
                        }
                    }
                }
            }
            if rejected.is_empty() {
                failed(format!("HTTP 400: {}", parsed.error.unwrap_or_default()))
            } else {
                Answer::Rejected(rejected)
            }
        }
        429 => {
            let users = keys(parsed.throttled_users);
            let devices = keys(parsed.throttled_devices);
            let positions: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.user_id.as_ref().is_some_and(|u| users.contains(u))
                        || e.device_id.as_ref().is_some_and(|d| devices.contains(d))
                })
                .map(|(i, _)| i)
                .collect();
            if positions.is_empty() {
                failed("HTTP 429: rate limited".into())
            } else {
                Answer::Throttled {
                    positions,
                    attempt: attempt(Some(429), "HTTP 429: throttled users or devices"),
                    wait: THROTTLE_PAUSE.max(retry_after),
                }
            }
        }
        _ => failed(format!("HTTP {status}")),
    }
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
