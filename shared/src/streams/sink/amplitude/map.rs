//! Our events as Amplitude HTTP V2 events (docs/rules/amplitude-export.md):
//! the fields every event shares (fields.rs), then per source: campaign
//! events (campaign.rs), user-action events exported fully (user_action.rs),
//! Customer.io events by docs/rules/customerio.md "To Amplitude"
//! (customerio.rs). Everything sent
//! passes Amplitude's limits (limits.rs).

use serde_json::Value;

use super::fields::{Context, OWN_PROPERTIES, base, ids};
use super::{campaign, customerio, user_action};
use crate::domain::{Event, EventSource, Profile};

pub use super::limits::MAX_STRING_CHARS;

/// One Amplitude event, or None when it has neither user_id nor device_id
/// (dropped and counted) or is never sent to Amplitude.
pub fn map_event(event: &Event, profile: Option<&Profile>, context: &Context) -> Option<Value> {
    let ids = ids(event, profile, context.anonymous_id_attribute);
    let mapped = match event.event_source {
        EventSource::Moengage => base(
            event,
            profile,
            ids,
            campaign::properties(event),
            OWN_PROPERTIES,
        ),
        EventSource::Mparticle => user_action::map(event, profile, ids, context),
        EventSource::Customerio => customerio::map(event, profile, ids, context.customerio),
        // Amplitude's own events are never sent back (selection drops them).
        EventSource::Amplitude => None,
    }?;
    Some(Value::Object(mapped))
}
