//! `event_properties` of the platform's campaign events (`MOENGAGE`):
//! the campaign attributes and the channel's id (docs/rules/amplitude-export.md
//! "event_properties of campaign events").

use serde_json::{Map, Value};

use super::limits::{bound, cut};
use crate::domain::Event;

/// Campaign attributes exported when present.
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

/// The campaign attributes and `moe_email_id` / `moe_push_id` /
/// `moe_mobile_number`; the caller adds `moengage_user_id` and `$source`.
pub fn properties(event: &Event) -> Map<String, Value> {
    let mut properties = Map::new();
    for name in CAMPAIGN_PROPERTIES {
        if let Some(value) = event.event_attributes.get(*name) {
            properties.insert((*name).to_owned(), bound(value, 1));
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
    properties
}
