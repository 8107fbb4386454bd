//! Customer.io events as Amplitude events, by the table of
//! docs/rules/customerio.md "To Amplitude": the person's id (`"0"` → the
//! email), the first recipient's device and platform, the event's name,
//! uuid and time, `groups` from the workspace's Customer.io settings, and
//! every event attribute as a property.

use serde_json::{Map, Value};

use super::fields::{Ids, OWN_PROPERTIES, base, cased_platform, valid_id};
use super::limits::cut;
use crate::config::CustomerioConfig;
use crate::domain::{Event, Profile};

/// Reads one setting of the workspace's Customer.io table.
type Setting = fn(&CustomerioConfig) -> Option<&String>;

/// Amplitude `groups` of exported Customer.io events: (group type, setting).
const GROUPS: &[(&str, Setting)] = &[
    ("account_id", |c| c.account_id.as_ref()),
    ("workspace_id", |c| c.workspace_id.as_ref()),
];

/// The recipient a push event was sent to (the first, when several).
fn recipient(event: &Event) -> Option<&Map<String, Value>> {
    event
        .event_attributes
        .get("recipients")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_object)
}

/// One Amplitude event: the shared fields with the user id of `ids` and the
/// recipient's device, every event attribute as a property, and `groups`;
/// None with neither user_id nor device_id (Customer.io's integration skips
/// those too).
pub fn map(
    event: &Event,
    profile: Option<&Profile>,
    ids: Ids,
    settings: Option<&CustomerioConfig>,
) -> Option<Map<String, Value>> {
    let recipient = recipient(event);
    let text = |name: &str| {
        recipient
            .and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let ids = Ids {
        user_id: ids.user_id,
        device_id: text("device_id").filter(|id| valid_id(id)).map(cut),
    };
    let mut out = base(
        event,
        profile,
        ids,
        (*event.event_attributes).clone(),
        OWN_PROPERTIES,
    )?;
    if let Some(platform) = text("device_platform")
        .or_else(|| text("platform"))
        .and_then(cased_platform)
    {
        out.insert("platform".into(), Value::String(platform.into()));
    }
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
    Some(out)
}
