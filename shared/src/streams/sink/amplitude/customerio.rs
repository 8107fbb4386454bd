//! Customer.io events as Amplitude events, by seed 004's table
//! (docs/rules/customerio.md "To Amplitude"): the person's id (`"0"` → the
//! email), the first recipient's device and platform, the event's name,
//! uuid and time, `groups` from the workspace's Customer.io settings, and
//! every event attribute as a property.

use serde_json::{Map, Value, json};

use super::map::{cased_platform, cut, user_id, valid_id};
use crate::config::CustomerioConfig;
use crate::domain::{Event, Profile};

/// Reads one setting of the workspace's Customer.io table.
type Setting = fn(&CustomerioConfig) -> Option<&String>;

/// Amplitude `groups` of exported Customer.io events: (group type, setting).
const GROUPS: &[(&str, Setting)] = &[
    ("account_id", |c| c.account_id.as_ref()),
    ("workspace_id", |c| c.workspace_id.as_ref()),
];

/// Strings anywhere in the properties are cut to 1024 characters.
fn cut_all(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(cut(s)),
        Value::Array(items) => Value::Array(items.iter().map(cut_all).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), cut_all(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The recipient a push event was sent to (the first, when several).
fn recipient(event: &Event) -> Option<&Map<String, Value>> {
    event
        .event_attributes
        .get("recipients")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_object)
}

/// One Amplitude event, or None with neither user_id nor device_id
/// (Customer.io's integration skips those too).
pub fn map_event(
    event: &Event,
    profile: Option<&Profile>,
    settings: Option<&CustomerioConfig>,
) -> Option<Value> {
    let user_id = user_id(event, profile);
    let recipient = recipient(event);
    let text = |name: &str| {
        recipient
            .and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let device_id = text("device_id").filter(|id| valid_id(id)).map(cut);
    if user_id.is_none() && device_id.is_none() {
        return None;
    }
    let mut properties: Map<String, Value> = event
        .event_attributes
        .iter()
        .map(|(k, v)| (k.clone(), cut_all(v)))
        .collect();
    let moengage_user_id = profile
        .map(|p| p.moengage_user_id.as_str())
        .or(event.moengage_user_id());
    if let Some(id) = moengage_user_id {
        properties.insert("moengage_user_id".into(), Value::String(cut(id)));
    }
    properties.insert("$source".into(), json!(event.event_source.as_str()));

    let mut out = Map::new();
    if let Some(id) = user_id {
        out.insert("user_id".into(), Value::String(id));
    }
    if let Some(id) = device_id {
        out.insert("device_id".into(), Value::String(id));
    }
    if let Some(platform) = text("device_platform")
        .or_else(|| text("platform"))
        .and_then(cased_platform)
    {
        out.insert("platform".into(), json!(platform));
    }
    out.insert("event_type".into(), Value::String(cut(&event.event_name)));
    out.insert("time".into(), json!(event.event_time.saturating_mul(1000)));
    out.insert("insert_id".into(), Value::String(cut(&event.event_uuid)));
    let groups: Map<String, Value> = GROUPS
        .iter()
        .filter_map(|(group, setting)| {
            let value = settings.and_then(setting)?;
            Some(((*group).to_owned(), Value::String(cut(value))))
        })
        .collect();
    if !groups.is_empty() {
        out.insert("groups".into(), Value::Object(groups));
    }
    out.insert("event_properties".into(), Value::Object(properties));
    Some(Value::Object(out))
}
