//! The one event shape used everywhere: queue messages and Streams payloads
//! (interface §5, seed 003's "API Request Format").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `CAMPAIGN_EVENT` for the engagement platform's campaign interactions,
/// `USER_ACTION_EVENT` for everything users do (mParticle events, Partner Sync).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    CampaignEvent,
    UserActionEvent,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_name: String,
    pub event_code: String,
    pub event_uuid: String,
    /// Epoch seconds.
    pub event_time: i64,
    pub event_type: EventType,
    pub event_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_number: Option<String>,
    #[serde(default)]
    pub event_attributes: Map<String, Value>,
    #[serde(default)]
    pub user_attributes: Map<String, Value>,
    #[serde(default)]
    pub device_attributes: Map<String, Value>,
}

impl Event {
    /// The engagement platform's internal user id, when the producer or the
    /// profile lookup supplied one.
    pub fn moengage_user_id(&self) -> Option<&str> {
        self.user_attributes
            .get("moengage_user_id")
            .and_then(Value::as_str)
    }
}

/// A message on the events queue: `{"workspace_id", "events": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventsMessage {
    pub workspace_id: String,
    pub events: Vec<Event>,
}

/// SQS's classic message limit is 256 KiB; stay clearly below it.
pub const MAX_MESSAGE_BYTES: usize = 200 * 1024;
/// Events per queue message (the Streams batch size, seed 003).
pub const MAX_EVENTS_PER_MESSAGE: usize = 100;

/// Packs events into events-queue message bodies of ≤ 100 events and
/// ≤ [`MAX_MESSAGE_BYTES`] each. An event too large for any message is an error.
pub fn pack_messages(
    workspace_id: &str,
    events: &[Event],
) -> Result<Vec<String>, serde_json::Error> {
    let envelope = serde_json::to_string(&EventsMessage {
        workspace_id: workspace_id.to_owned(),
        events: Vec::new(),
    })?
    .len();
    let mut bodies = Vec::new();
    let mut current: Vec<&Event> = Vec::new();
    let mut size = envelope;
    let flush =
        |current: &mut Vec<&Event>, bodies: &mut Vec<String>| -> Result<(), serde_json::Error> {
            if !current.is_empty() {
                bodies.push(serde_json::to_string(&serde_json::json!({
                    "workspace_id": workspace_id,
                    "events": current,
                }))?);
                current.clear();
            }
            Ok(())
        };
    for event in events {
        let len = serde_json::to_string(event)?.len() + 1;
        if envelope + len > MAX_MESSAGE_BYTES {
            return Err(serde::ser::Error::custom(format!(
                "event {} is larger than a queue message ({} bytes)",
                event.event_uuid, MAX_MESSAGE_BYTES
            )));
        }
        if current.len() == MAX_EVENTS_PER_MESSAGE || size + len > MAX_MESSAGE_BYTES {
            flush(&mut current, &mut bodies)?;
            size = envelope;
        }
        size += len;
        current.push(event);
    }
    flush(&mut current, &mut bodies)?;
    Ok(bodies)
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
    fn wire_shape_matches_seed_003() {
        let value = serde_json::to_value(sample(1)).unwrap();
        assert_eq!(value["event_type"], "CAMPAIGN_EVENT");
        assert_eq!(value["email_id"], "a@example.com");
        assert!(value.get("push_id").is_none(), "absent fields are omitted");
        assert_eq!(value["user_attributes"], json!({}));
    }

    #[test]
    fn packs_by_count_and_size() {
        let events: Vec<Event> = (0..250).map(sample).collect();
        let bodies = pack_messages("ws", &events).unwrap();
        assert_eq!(bodies.len(), 3);
        let counts: Vec<usize> = bodies
            .iter()
            .map(|b| {
                serde_json::from_str::<EventsMessage>(b)
                    .unwrap()
                    .events
                    .len()
            })
            .collect();
        assert_eq!(counts, vec![100, 100, 50]);

        let mut big = sample(0);
        big.event_attributes
            .insert("blob".into(), json!("x".repeat(60 * 1024)));
        let bodies = pack_messages("ws", &vec![big; 7]).unwrap();
        assert!(bodies.iter().all(|b| b.len() <= MAX_MESSAGE_BYTES));
        let total: usize = bodies
            .iter()
            .map(|b| {
                serde_json::from_str::<EventsMessage>(b)
                    .unwrap()
                    .events
                    .len()
            })
            .sum();
        assert_eq!(total, 7);

        let mut huge = sample(0);
        huge.event_attributes
            .insert("blob".into(), json!("x".repeat(MAX_MESSAGE_BYTES)));
        assert!(pack_messages("ws", &[huge]).is_err());
    }
}
