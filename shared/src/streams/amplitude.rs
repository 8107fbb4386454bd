//! Amplitude HTTP V2 export [000, 004] (interface §4 "Amplitude streams"):
//! mapping our events to Amplitude events, sizing requests and reading
//! Amplitude's answers.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{AmplitudeRegion, StreamConfig};
use crate::domain::{Event, Profile};

pub const US_ENDPOINT: &str = "https://api2.amplitude.com/2/httpapi";
pub const EU_ENDPOINT: &str = "https://api.eu.amplitude.com/2/httpapi";
/// Amplitude limits (reference.md): < 2000 events and < 1 MB per request.
pub const MAX_EVENTS_PER_REQUEST: usize = 2000;
pub const MAX_REQUEST_BYTES: usize = 1_000_000;
/// [004]: strings are cut to 1024 characters.
pub const MAX_STRING_CHARS: usize = 1024;

/// Ids Amplitude rejects (reference.md "Invalid ids"), compared case-insensitively.
const INVALID_IDS: &[&str] = &[
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "",
    "0",
    "-1",
    "00000000-0000-0000-0000-000000000000",
    "{}",
    "lmy47d",
];

/// [000 "Points to remember"]: campaign attributes exported when present.
const CAMPAIGN_PROPERTIES: &[&str] = &[
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "campaign_channel",
    "parent_flow_id",
    "parent_flow_name",
    "variation_id",
    "locale_id",
    "locale_name",
];

/// [004] platform casing.
const PLATFORMS: &[(&str, &str)] = &[("web", "Web"), ("android", "Android"), ("ios", "iOS")];

pub fn endpoint(stream: &StreamConfig) -> &str {
    match (&stream.endpoint, stream.region) {
        (Some(endpoint), _) => endpoint,
        (None, AmplitudeRegion::Us) => US_ENDPOINT,
        (None, AmplitudeRegion::Eu) => EU_ENDPOINT,
    }
}

fn valid_id(id: &str) -> bool {
    !INVALID_IDS
        .iter()
        .any(|bad| bad.eq_ignore_ascii_case(id.trim()))
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_STRING_CHARS).collect()
}

fn cut_value(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(cut(s)),
        other => other.clone(),
    }
}

fn string_attr<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `user_id` [004]: the uid; a uid of "0" becomes the user's email; missing,
/// empty or Amplitude-invalid ids mean no user_id.
fn user_id(event: &Event, profile: Option<&Profile>) -> Option<String> {
    let uid = event.uid.as_deref()?;
    let id = if uid.trim() == "0" {
        profile
            .and_then(|p| string_attr(&p.attributes, "email"))
            .or(event.email_id.as_deref())?
    } else {
        uid
    };
    valid_id(id).then(|| cut(id))
}

/// `device_id` [000]: the user's `moe_anonymous_id` (the workspace's
/// anonymous-id attribute on the profile, else one the producer supplied).
fn device_id(
    event: &Event,
    profile: Option<&Profile>,
    anonymous_id_attribute: &str,
) -> Option<String> {
    profile
        .and_then(|p| string_attr(&p.attributes, anonymous_id_attribute))
        .or_else(|| string_attr(&event.user_attributes, anonymous_id_attribute))
        .filter(|id| valid_id(id))
        .map(cut)
}

fn platform(event: &Event) -> Option<&'static str> {
    let raw = string_attr(&event.device_attributes, "platform")
        .or_else(|| string_attr(&event.event_attributes, "platform"))?;
    PLATFORMS
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(raw))
        .map(|(_, cased)| *cased)
}

/// One Amplitude event, or None when it has neither user_id nor device_id
/// (Amplitude would drop it [000]).
pub fn map_event(
    event: &Event,
    profile: Option<&Profile>,
    anonymous_id_attribute: &str,
) -> Option<Value> {
    let user_id = user_id(event, profile);
    let device_id = device_id(event, profile, anonymous_id_attribute);
    if user_id.is_none() && device_id.is_none() {
        return None;
    }
    let mut properties = Map::new();
    for name in CAMPAIGN_PROPERTIES {
        if let Some(value) = event.event_attributes.get(*name) {
            properties.insert((*name).to_owned(), cut_value(value));
        }
    }
    for (field, property) in [
        (&event.email_id, "moe_email_id"),
        (&event.push_id, "moe_push_id"),
        (&event.mobile_number, "moe_mobile_number"),
    ] {
        if let Some(value) = field {
            properties.insert(property.to_owned(), Value::String(cut(value)));
        }
    }
    let moengage_user_id = profile
        .map(|p| p.moengage_user_id.as_str())
        .or(event.moengage_user_id());
    if let Some(id) = moengage_user_id {
        properties.insert("moengage_user_id".into(), Value::String(cut(id)));
    }
    properties.insert("$source".into(), Value::String("MOENGAGE".into()));

    let mut out = Map::new();
    if let Some(id) = user_id {
        out.insert("user_id".into(), Value::String(id));
    }
    if let Some(id) = device_id {
        out.insert("device_id".into(), Value::String(id));
    }
    out.insert("event_type".into(), Value::String(cut(&event.event_name)));
    out.insert("time".into(), json!(event.event_time.saturating_mul(1000)));
    out.insert("insert_id".into(), Value::String(cut(&event.event_uuid)));
    out.insert("event_properties".into(), Value::Object(properties));
    if let Some(platform) = platform(event) {
        out.insert("platform".into(), Value::String(platform.into()));
    }
    Some(Value::Object(out))
}

/// The request body for `events`.
pub fn body(api_key: &str, events: &[Value]) -> Value {
    json!({"api_key": api_key, "events": events, "options": {"min_id_length": 1}})
}

/// Splits mapped events into request-sized groups (by count and bytes).
pub fn split_requests(events: Vec<(usize, Value)>) -> Vec<Vec<(usize, Value)>> {
    let envelope = 200; // api_key, options and punctuation
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut size = envelope;
    for (index, event) in events {
        let len = event.to_string().len() + 1;
        if !current.is_empty()
            && (current.len() == MAX_EVENTS_PER_REQUEST || size + len >= MAX_REQUEST_BYTES)
        {
            groups.push(std::mem::take(&mut current));
            size = envelope;
        }
        size += len;
        current.push((index, event));
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

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

/// What an Amplitude answer means for the events of one request.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Accepted,
    /// 400 naming bad events: positions in the request with their reason.
    Rejected(Vec<(usize, String)>),
    /// 429 naming throttled users/devices.
    Throttled {
        users: HashSet<String>,
        devices: HashSet<String>,
    },
    TooLarge,
    Failed {
        status: u16,
        error: String,
    },
}

pub fn interpret(status: u16, body: &str) -> Answer {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    match status {
        200..=299 => Answer::Accepted,
        400 => {
            let mut rejected = Vec::new();
            for (kind, fields) in [
                ("invalid", &parsed.events_with_invalid_fields),
                ("missing", &parsed.events_with_missing_fields),
            ] {
                for (field, indices) in fields.iter().flatten() {
                    for index in indices
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_u64)
                    {
                        rejected.push((
                            index as usize,
                            format!("Amplitude rejected the event: {kind} field {field}"),
                        ));
                    }
                }
            }
            if rejected.is_empty() {
                Answer::Failed {
                    status,
                    error: format!("HTTP 400: {}", parsed.error.unwrap_or_default()),
                }
            } else {
                Answer::Rejected(rejected)
            }
        }
        413 => Answer::TooLarge,
        429 => {
            let keys = |m: Option<Map<String, Value>>| {
                m.map(|m| m.into_iter().map(|(k, _)| k).collect())
                    .unwrap_or_default()
            };
            let users: HashSet<String> = keys(parsed.throttled_users);
            let devices: HashSet<String> = keys(parsed.throttled_devices);
            if users.is_empty() && devices.is_empty() {
                Answer::Failed {
                    status,
                    error: "HTTP 429: rate limited".into(),
                }
            } else {
                Answer::Throttled { users, devices }
            }
        }
        _ => Answer::Failed {
            status,
            error: format!("HTTP {status}"),
        },
    }
}

/// Whether a mapped event belongs to a throttled user or device.
pub fn is_throttled(event: &Value, users: &HashSet<String>, devices: &HashSet<String>) -> bool {
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    field("user_id").is_some_and(|u| users.contains(u))
        || field("device_id").is_some_and(|d| devices.contains(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(toml_extra: &str) -> StreamConfig {
        let text = format!(
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = \"k\"\n{toml_extra}\n"
        );
        crate::config::parse(&text)
            .unwrap()
            .workspaces
            .remove(0)
            .streams
            .remove(0)
    }

    #[test]
    fn endpoints_follow_region_and_override() {
        assert_eq!(endpoint(&stream("")), US_ENDPOINT);
        assert_eq!(endpoint(&stream("region = \"eu\"")), EU_ENDPOINT);
        assert_eq!(
            endpoint(&stream(
                "region = \"eu\"\nendpoint = \"http://127.0.0.1:9/x\""
            )),
            "http://127.0.0.1:9/x"
        );
    }

    #[test]
    fn amplitude_invalid_ids_are_refused_case_insensitively() {
        for id in [
            "null",
            "NULL",
            "None",
            "n/a",
            "0",
            "-1",
            "",
            "  ",
            "{}",
            "lmy47d",
            "00000000-0000-0000-0000-000000000000",
        ] {
            assert!(!valid_id(id), "{id:?}");
        }
        for id in ["u1", "00", "user@example.com", "a"] {
            assert!(valid_id(id), "{id:?}");
        }
    }

    #[test]
    fn requests_split_by_count_and_size() {
        let small: Vec<(usize, Value)> = (0..4500).map(|i| (i, json!({"i": i}))).collect();
        let sizes: Vec<usize> = split_requests(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2000, 2000, 500]);
        let big: Vec<(usize, Value)> = (0..5)
            .map(|i| (i, json!({"blob": "x".repeat(300_000)})))
            .collect();
        let groups = split_requests(big);
        assert!(groups.len() >= 2);
        for g in &groups {
            let bytes: usize = g.iter().map(|(_, v)| v.to_string().len()).sum();
            assert!(bytes < MAX_REQUEST_BYTES);
        }
    }

    #[test]
    fn answers_are_read_per_reference() {
        assert_eq!(interpret(200, "{}"), Answer::Accepted);
        assert_eq!(interpret(413, ""), Answer::TooLarge);
        assert!(matches!(
            interpret(503, ""),
            Answer::Failed { status: 503, .. }
        ));
        assert!(matches!(
            interpret(400, r#"{"error":"bad"}"#),
            Answer::Failed { status: 400, .. }
        ));
        match interpret(
            400,
            r#"{"events_with_missing_fields":{"event_type":[0,2]}}"#,
        ) {
            Answer::Rejected(bad) => {
                assert_eq!(bad.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 2])
            }
            other => panic!("{other:?}"),
        }
        match interpret(429, r#"{"throttled_devices":{"d1":40}}"#) {
            Answer::Throttled { devices, users } => {
                assert!(devices.contains("d1"));
                assert!(users.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}
