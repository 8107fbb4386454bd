//! Our events as Amplitude HTTP V2 events
//! (docs/rules/amplitude-export.md): ids, event type and time, properties,
//! platform, the 1024-character cut.

use serde_json::{Map, Value, json};

use crate::domain::{Event, Profile};

/// Strings are cut to 1024 characters (docs/rules/amplitude-export.md "Field mapping").
pub const MAX_STRING_CHARS: usize = 1024;

/// Ids Amplitude rejects (docs/rules/amplitude-export.md "user_id"), compared case-insensitively.
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

/// Campaign attributes exported when present (docs/rules/amplitude-export.md).
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

/// Platform casing (docs/rules/amplitude-export.md "Field mapping").
const PLATFORMS: &[(&str, &str)] = &[("web", "Web"), ("android", "Android"), ("ios", "iOS")];

pub(super) fn valid_id(id: &str) -> bool {
    !INVALID_IDS
        .iter()
        .any(|bad| bad.eq_ignore_ascii_case(id.trim()))
}

pub(super) fn cut(text: &str) -> String {
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

/// `user_id` (docs/rules/amplitude-export.md): the uid; a uid of "0" becomes
/// the user's email; missing, empty or Amplitude-invalid ids mean no user_id.
pub(super) fn user_id(event: &Event, profile: Option<&Profile>) -> Option<String> {
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

/// `device_id` (same page): the user's `moe_anonymous_id` (the workspace's
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

/// `web` → `Web`, `ANDROID` → `Android`, `ios` → `iOS`.
pub(super) fn cased_platform(raw: &str) -> Option<&'static str> {
    PLATFORMS
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(raw))
        .map(|(_, cased)| *cased)
}

fn platform(event: &Event) -> Option<&'static str> {
    let raw = string_attr(&event.device_attributes, "platform")
        .or_else(|| string_attr(&event.event_attributes, "platform"))?;
    cased_platform(raw)
}

/// One Amplitude event, or None when it has neither user_id nor device_id
/// (Amplitude would drop it; docs/rules/amplitude-export.md).
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
    properties.insert(
        "$source".into(),
        Value::String(event.event_source.as_str().into()),
    );

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
