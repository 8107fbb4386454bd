//! The fields every Amplitude HTTP V2 event shares
//! (docs/rules/amplitude-export.md "Field mapping"): its ids, event type,
//! time, insert id, platform and the properties the mapping itself sets.
//! Each source's mapping (campaign.rs, user_action.rs, customerio.rs)
//! builds on them.

use serde_json::{Map, Value, json};

use super::limits::{bound_properties, cut};
use crate::config::{CustomerioConfig, Selection};
use crate::domain::{Event, Profile};

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

/// Platform casing (docs/rules/amplitude-export.md "Field mapping").
const PLATFORMS: &[(&str, &str)] = &[("web", "Web"), ("android", "Android"), ("ios", "iOS")];

/// Properties the mapping itself sets: kept whatever the event carries.
pub const OWN_PROPERTIES: &[&str] = &["moengage_user_id", "$source"];

/// What a stream's mapping needs besides the event and its profile.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The workspace's anonymous-id attribute (the `device_id`).
    pub anonymous_id_attribute: &'a str,
    /// The stream's `user_attributes`: the `user_properties` of full exports.
    pub user_attributes: &'a Selection,
    /// The workspace's Customer.io settings (the `groups` of its events).
    pub customerio: Option<&'a CustomerioConfig>,
}

/// The ids an Amplitude event is sent with; it needs at least one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    pub user_id: Option<String>,
    pub device_id: Option<String>,
}

pub fn valid_id(id: &str) -> bool {
    !INVALID_IDS
        .iter()
        .any(|bad| bad.eq_ignore_ascii_case(id.trim()))
}

pub fn string_attr<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `user_id` (docs/rules/amplitude-export.md): the uid; a uid of "0" becomes
/// the user's email; missing, empty or Amplitude-invalid ids mean no user_id.
/// `device_id`: the user's `moe_anonymous_id` (the workspace's anonymous-id
/// attribute on the profile, else one the producer supplied).
pub fn ids(event: &Event, profile: Option<&Profile>, anonymous_id_attribute: &str) -> Ids {
    let user_id = event.uid.as_deref().and_then(|uid| {
        let id = if uid.trim() == "0" {
            profile
                .and_then(|p| string_attr(&p.attributes, "email"))
                .or(event.email_id.as_deref())?
        } else {
            uid
        };
        valid_id(id).then(|| cut(id))
    });
    let device_id = profile
        .and_then(|p| string_attr(&p.attributes, anonymous_id_attribute))
        .or_else(|| string_attr(&event.user_attributes, anonymous_id_attribute))
        .filter(|id| valid_id(id))
        .map(cut);
    Ids { user_id, device_id }
}

/// `web` → `Web`, `ANDROID` → `Android`, `ios` → `iOS`.
pub fn cased_platform(raw: &str) -> Option<&'static str> {
    PLATFORMS
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(raw))
        .map(|(_, cased)| *cased)
}

/// `platform` camel-cased, when the event's device (or the event) names a known one.
pub fn platform(event: &Event) -> Option<&'static str> {
    let raw = string_attr(&event.device_attributes, "platform")
        .or_else(|| string_attr(&event.event_attributes, "platform"))?;
    cased_platform(raw)
}

/// The fields every Amplitude event has: ids, `event_type`, `time`,
/// `insert_id`, `event_properties` (with `moengage_user_id` and `$source`
/// added, within the limits: `kept` properties first) and `platform`. None
/// when there is neither id (Amplitude would drop the event;
/// docs/rules/amplitude-export.md).
pub fn base(
    event: &Event,
    profile: Option<&Profile>,
    ids: Ids,
    mut properties: Map<String, Value>,
    kept: &[&str],
) -> Option<Map<String, Value>> {
    if ids.user_id.is_none() && ids.device_id.is_none() {
        return None;
    }
    let moengage_user_id = profile
        .map(|p| p.moengage_user_id.as_str())
        .or(event.moengage_user_id());
    if let Some(id) = moengage_user_id {
        properties.insert("moengage_user_id".into(), Value::String(id.to_owned()));
    }
    properties.insert(
        "$source".into(),
        Value::String(event.event_source.as_str().into()),
    );
    let mut out = Map::new();
    if let Some(id) = ids.user_id {
        out.insert("user_id".into(), Value::String(id));
    }
    if let Some(id) = ids.device_id {
        out.insert("device_id".into(), Value::String(id));
    }
    out.insert("event_type".into(), Value::String(cut(&event.event_name)));
    out.insert("time".into(), json!(event.event_time.saturating_mul(1000)));
    out.insert("insert_id".into(), Value::String(cut(&event.event_uuid)));
    out.insert(
        "event_properties".into(),
        Value::Object(bound_properties(&properties, kept)),
    );
    if let Some(platform) = platform(event) {
        out.insert("platform".into(), Value::String(platform.into()));
    }
    Some(out)
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
