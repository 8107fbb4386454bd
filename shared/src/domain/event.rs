//! The one event shape used everywhere: queue messages and Streams payloads
//! (docs/interface/events.md, docs/rules/webhook-payload.md).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attributes::Attributes;
use super::batching::pack_json;
use super::encoded::Encoded;

/// `CAMPAIGN_EVENT` for the engagement platform's campaign interactions,
/// `USER_ACTION_EVENT` for everything users do (mParticle events, Partner
/// Sync), `PRIVACY_EVENT` for what engage-bridge says about privacy
/// requests (`User Deleted`, docs/interface/privacy.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    CampaignEvent,
    UserActionEvent,
    PrivacyEvent,
}

/// Where an event came from (docs/interface/events.md): a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventSource {
    /// The engagement platform's own producers (campaign events).
    Moengage,
    Mparticle,
    Amplitude,
    Customerio,
    /// Events engage-bridge itself emits (`User Deleted`).
    #[serde(rename = "ENGAGE_BRIDGE")]
    EngageBridge,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Moengage => "MOENGAGE",
            Self::Mparticle => "MPARTICLE",
            Self::Amplitude => "AMPLITUDE",
            Self::Customerio => "CUSTOMERIO",
            Self::EngageBridge => "ENGAGE_BRIDGE",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub event_name: String,
    pub event_code: String,
    pub event_uuid: String,
    /// Epoch seconds.
    pub event_time: i64,
    pub event_type: EventType,
    pub event_source: EventSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_number: Option<String>,
    /// Kept as queued text until read (domain/attributes/).
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub event_attributes: Attributes,
    /// Kept as queued text until read, as `event_attributes` are.
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub user_attributes: Attributes,
    /// Shared: the events of one mParticle batch carry the same device
    /// (BENCHMARKS.md "mParticle ingest"), written once per message and
    /// shared again when read from one (domain/shared_devices.rs).
    #[serde(
        default,
        deserialize_with = "super::shared_devices::device_attributes",
        serialize_with = "super::shared_devices::write_device_attributes"
    )]
    pub device_attributes: Arc<Map<String, Value>>,
}

impl Event {
    /// The engagement platform's internal user id, when the producer or the
    /// profile lookup supplied one.
    pub fn moengage_user_id(&self) -> Option<&str> {
        self.user_attributes.get_str("moengage_user_id")
    }
}

/// A message on the events queue: `{"workspace_id", "events": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventsMessage {
    pub workspace_id: String,
    #[serde(deserialize_with = "super::shared_devices::events")]
    pub events: Vec<Event>,
}

/// SQS's classic message limit is 256 KiB; stay clearly below it.
pub const MAX_MESSAGE_BYTES: usize = 200 * 1024;
/// Events per queue message (the webhook batch size, docs/rules/webhook-payload.md).
pub const MAX_EVENTS_PER_MESSAGE: usize = 100;

/// An event too large for any queue message.
#[derive(Debug, thiserror::Error)]
#[error(
    "event {event_uuid} is {size} bytes, larger than a queue message ({MAX_MESSAGE_BYTES} bytes)"
)]
pub struct OversizedEvent {
    pub event_uuid: String,
    pub size: usize,
}

impl EventsMessage {
    /// The workspace a queued body is for, read from its head without
    /// reading its events ([`Self::pack`] writes `workspace_id` first; a
    /// body written another way is read whole). Read in full, the events
    /// were 7 % of the consumers' CPU (BENCHMARKS.md "Dispatch without
    /// copies"). `None` for a body that names no workspace.
    pub fn workspace_of(body: &str) -> Option<String> {
        if let Some(rest) = body.strip_prefix("{\"workspace_id\":") {
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<String>();
            if let Some(Ok(id)) = values.next() {
                return Some(id);
            }
        }
        #[derive(Deserialize)]
        struct Envelope {
            workspace_id: String,
        }
        serde_json::from_str::<Envelope>(body)
            .ok()
            .map(|e| e.workspace_id)
    }

    /// Packs events into messages of ≤ 100 events and ≤
    /// [`MAX_MESSAGE_BYTES`] encoded bytes each, encoding every event once.
    pub fn pack(
        workspace_id: &str,
        events: &[Event],
    ) -> Result<Vec<Encoded<Self>>, OversizedEvent> {
        let head = format!(
            "{{\"workspace_id\":{},\"events\":[",
            serde_json::Value::String(workspace_id.to_owned())
        );
        // Encoded one after the other into one buffer, then cut apart:
        // one allocation instead of one (and its regrowth) per event.
        let mut buffer = Vec::with_capacity(events.len() * 1024);
        let mut ends = Vec::with_capacity(events.len());
        let packing = super::shared_devices::Packing::start();
        for event in events {
            serde_json::to_writer(&mut buffer, event).expect("events always serialize");
            ends.push(buffer.len());
        }
        drop(packing);
        let buffer = String::from_utf8(buffer).expect("serde_json writes UTF-8");
        let encoded: Vec<&str> = std::iter::once(0)
            .chain(ends.iter().copied())
            .zip(&ends)
            .map(|(start, &end)| &buffer[start..end])
            .collect();
        let tail = "]}";
        if let Some(i) = encoded
            .iter()
            .position(|e| head.len() + tail.len() + e.len() > MAX_MESSAGE_BYTES)
        {
            return Err(OversizedEvent {
                event_uuid: events[i].event_uuid.clone(),
                size: encoded[i].len(),
            });
        }
        let bodies = pack_json(
            &head,
            tail,
            &encoded,
            MAX_EVENTS_PER_MESSAGE,
            MAX_MESSAGE_BYTES,
        );
        Ok(bodies.into_iter().map(Encoded::trusted).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample(i: usize) -> Event {
        serde_json::from_value(json!({
            "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
            "event_uuid": format!("uuid-{i}"), "event_time": 1_580_967_474,
            "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
            "uid": "u1", "email_id": "a@example.com",
            "event_attributes": {"campaign_id": "c1"}
        }))
        .unwrap()
    }

    #[test]
    fn the_workspace_is_read_from_the_head_of_a_body() {
        let bodies = EventsMessage::pack("ws \"1\" é", &[sample(1), sample(2)]).unwrap();
        assert_eq!(
            EventsMessage::workspace_of(bodies[0].as_str()).as_deref(),
            Some("ws \"1\" é")
        );
        // Written another way: read whole.
        let reordered = r#"{"events":[],"workspace_id":"ws2"}"#;
        assert_eq!(
            EventsMessage::workspace_of(reordered).as_deref(),
            Some("ws2")
        );
        let spaced = r#"{ "workspace_id" : "ws3", "events": [] }"#;
        assert_eq!(EventsMessage::workspace_of(spaced).as_deref(), Some("ws3"));
        for nameless in [
            r#"{"workspace_id":7,"events":[]}"#,
            "{",
            "",
            r#"{"events":[]}"#,
        ] {
            assert_eq!(EventsMessage::workspace_of(nameless), None, "{nameless}");
        }
    }

    #[test]
    fn wire_shape_matches_seed_003() {
        let value = serde_json::to_value(sample(1)).unwrap();
        assert_eq!(value["event_type"], "CAMPAIGN_EVENT");
        assert_eq!(value["email_id"], "a@example.com");
        assert!(value.get("push_id").is_none(), "absent fields are omitted");
        assert_eq!(value["user_attributes"], json!({}));
    }

    #[test]
    fn packs_by_count_and_size() {
        let unpack = |bodies: &[Encoded<EventsMessage>]| -> Vec<usize> {
            bodies
                .iter()
                .map(|b| b.decode().unwrap().events.len())
                .collect()
        };
        let events: Vec<Event> = (0..250).map(sample).collect();
        let bodies = EventsMessage::pack("ws", &events).unwrap();
        assert_eq!(unpack(&bodies), vec![100, 100, 50]);
        let all: Vec<Event> = bodies
            .iter()
            .flat_map(|b| b.decode().unwrap().events)
            .collect();
        assert_eq!(all, events);

        let mut big = sample(0);
        big.event_attributes
            .insert("blob".into(), json!("x".repeat(60 * 1024)));
        let bodies = EventsMessage::pack("ws", &vec![big; 7]).unwrap();
        assert!(bodies.iter().all(|b| b.as_str().len() <= MAX_MESSAGE_BYTES));
        assert_eq!(unpack(&bodies).iter().sum::<usize>(), 7);

        let mut huge = sample(0);
        huge.event_attributes
            .insert("blob".into(), json!("x".repeat(MAX_MESSAGE_BYTES)));
        assert!(EventsMessage::pack("ws", &[huge]).is_err());
    }
}
