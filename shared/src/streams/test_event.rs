//! The test event of `streams test` and the console's `Send test event`:
//! one `Email Sent` (docs/interface/cli.md "streams test").

use crate::domain::ids::random_id;
use crate::domain::time::now_s;
use crate::domain::{Event, EventSource, EventType};

/// The uid of every test event.
pub const TEST_UID: &str = "engage-bridge-test-user";

pub fn event() -> Event {
    let mut attributes = serde_json::Map::new();
    for (name, value) in [
        ("campaign_id", "engage-bridge-test"),
        ("campaign_name", "engage-bridge stream test"),
        ("campaign_type", "General"),
        ("campaign_channel", "Email"),
    ] {
        attributes.insert(name.into(), value.into());
    }
    Event {
        event_name: "Email Sent".into(),
        event_code: "MOE_EMAIL_SENT".into(),
        event_uuid: random_id(),
        event_time: now_s(),
        event_type: EventType::CampaignEvent,
        event_source: EventSource::Moengage,
        uid: Some(TEST_UID.into()),
        push_id: None,
        email_id: None,
        mobile_number: None,
        event_attributes: attributes.into(),
        user_attributes: Default::default(),
        device_attributes: Default::default(),
    }
}
