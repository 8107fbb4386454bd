//! Filling an event in for one stream at dispatch time: user attributes from
//! the profile per the stream's allowlist, device attributes per its
//! allowlist, and the never-exported attributes (docs/rules/webhook-payload.md) removed.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::config::{Selection, SinkConfig, StreamConfig};
use crate::domain::{Attributes, Event, EventSource, EventType, Profile};
use crate::ports::StoreResult;
use crate::runtime::Services;

use super::catalogue::NOT_EXPORTED_ATTRIBUTES;

/// The profiles of a batch's users, looked up once with batched reads.
#[derive(Default)]
pub struct Profiles {
    by_id: HashMap<String, Profile>,
    id_by_uid: HashMap<String, String>,
}

impl Profiles {
    /// The profiles of the events that one of `streams` reads a profile for
    /// ([`reads_profile`]).
    pub async fn load(
        services: &Services,
        workspace: &str,
        events: &[Event],
        streams: &[&StreamConfig],
    ) -> StoreResult<Self> {
        let events: Vec<&Event> = events
            .iter()
            .filter(|e| streams.iter().any(|s| reads_profile(s, e)))
            .collect();
        if events.is_empty() {
            return Ok(Self::default());
        }
        let mut uids: Vec<String> = events
            .iter()
            .filter(|e| e.moengage_user_id().is_none())
            .filter_map(|e| e.uid.clone())
            .collect();
        uids.sort();
        uids.dedup();
        let id_by_uid = if uids.is_empty() {
            HashMap::new()
        } else {
            services.profiles.find_by_uids(workspace, &uids).await?
        };
        let mut ids: Vec<String> = events
            .iter()
            .filter_map(|e| e.moengage_user_id().map(str::to_owned))
            .chain(id_by_uid.values().cloned())
            .collect();
        ids.sort();
        ids.dedup();
        let by_id = if ids.is_empty() {
            HashMap::new()
        } else {
            services
                .profiles
                .get_profiles(workspace, &ids)
                .await?
                .into_iter()
                .map(|p| (p.moengage_user_id.clone(), p))
                .collect()
        };
        Ok(Self { by_id, id_by_uid })
    }

    pub fn of(&self, event: &Event) -> Option<&Profile> {
        let id = match event.moengage_user_id() {
            Some(id) => Some(id),
            None => event
                .uid
                .as_ref()
                .and_then(|uid| self.id_by_uid.get(uid))
                .map(String::as_str),
        }?;
        self.by_id.get(id)
    }
}

/// Whether `stream` reads `event`'s profile: Amplitude maps ids and user
/// properties from it (docs/rules/amplitude-export.md); a webhook copies
/// the user attributes its allowlist selects and, for an event without
/// one, takes the engagement platform's user id from it
/// (docs/rules/webhook-payload.md). A webhook stream that selects no user
/// attributes reads none for an event that carries its user id: the
/// profile's reads were 15 % of the consumers' CPU (BENCHMARKS.md
/// "Profiles read only where a stream uses them").
pub fn reads_profile(stream: &StreamConfig, event: &Event) -> bool {
    match &stream.sink {
        SinkConfig::Webhook(_) => {
            !stream.user_attributes.selects_nothing() || event.moengage_user_id().is_none()
        }
        SinkConfig::Amplitude(_) => true,
    }
}

/// Copies the attributes of `source` that `selection` includes.
pub fn select_into(
    target: &mut Map<String, Value>,
    source: &Map<String, Value>,
    selection: &Selection,
) {
    for (name, value) in source {
        if selection.includes(name) {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// The event as a webhook stream receives it: the allowlists select user
/// and device attributes, the never-exported attributes are left out
/// (docs/rules/webhook-payload.md). It borrows from the queued event and its
/// profile and is written as it is read: copying the attributes into a new
/// event, then freeing them, took a third of encoding it (BENCHMARKS.md
/// "Dispatch without copies"). Its fields and their order are [`Event`]'s.
#[derive(Debug, Serialize)]
pub struct WebhookEvent<'a> {
    event_name: &'a str,
    event_code: &'a str,
    event_uuid: &'a str,
    event_time: i64,
    event_type: EventType,
    event_source: EventSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_number: Option<&'a str>,
    event_attributes: Exported<'a>,
    /// Sorted by name, as a [`Map`] is; a later source wins a name.
    user_attributes: BTreeMap<&'a str, Attribute<'a>>,
    device_attributes: BTreeMap<&'a str, Attribute<'a>>,
}

/// An attribute's value: the event's or profile's JSON, or an id the
/// profile keeps as text.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Attribute<'a> {
    Json(&'a Value),
    Text(&'a str),
}

/// An event's attributes without the never-exported ones.
#[derive(Debug)]
struct Exported<'a>(&'a Attributes);

impl Serialize for Exported<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Queued text that names no never-exported attribute anywhere (nor
        // escapes a character that could spell one) is written as it is:
        // the map would write the same (domain/attributes/).
        if let Some(text) = self.0.text()
            && !may_name_one_not_exported(text.get())
        {
            return text.serialize(serializer);
        }
        serializer.collect_map(
            self.0
                .iter()
                .filter(|(name, _)| !NOT_EXPORTED_ATTRIBUTES.contains(&name.as_str())),
        )
    }
}

/// Whether JSON text may hold a never-exported attribute's name: it holds
/// one of the names, or a `\u` escape that could spell one. memmem's
/// searchers, built once: `str::contains` was 2.4 % of serve's samples.
fn may_name_one_not_exported(json: &str) -> bool {
    static FINDERS: LazyLock<Vec<Finder<'static>>> = LazyLock::new(|| {
        NOT_EXPORTED_ATTRIBUTES
            .iter()
            .copied()
            .chain(["\\u"])
            .map(Finder::new)
            .collect()
    });
    FINDERS.iter().any(|f| f.find(json.as_bytes()).is_some())
}

/// The attributes of `source` that `selection` includes, into `target`.
fn select<'a>(
    target: &mut BTreeMap<&'a str, Attribute<'a>>,
    source: &'a Map<String, Value>,
    selection: &Selection,
) {
    for (name, value) in source {
        if selection.includes(name) {
            target.insert(name, Attribute::Json(value));
        }
    }
}

pub fn for_webhook<'a>(
    event: &'a Event,
    profile: Option<&'a Profile>,
    stream: &StreamConfig,
) -> WebhookEvent<'a> {
    let mut user = BTreeMap::new();
    // Queued user attributes are text until read (domain/attributes/): a
    // stream that selects none leaves them unread.
    if !stream.user_attributes.selects_nothing() {
        select(&mut user, &event.user_attributes, &stream.user_attributes);
        if let Some(profile) = profile {
            select(&mut user, &profile.attributes, &stream.user_attributes);
        }
    }
    let moengage_user_id = profile
        .map(|p| p.moengage_user_id.as_str())
        .or_else(|| event.moengage_user_id());
    if let Some(id) = moengage_user_id {
        user.insert("moengage_user_id", Attribute::Text(id));
    }

    let mut device = BTreeMap::new();
    if !stream.device_attributes.selects_nothing() {
        select(
            &mut device,
            &event.device_attributes,
            &stream.device_attributes,
        );
    }
    if let Some(id) = event.device_attributes.get("moengage_device_id") {
        device.insert("moengage_device_id", Attribute::Json(id));
    }
    WebhookEvent {
        event_name: &event.event_name,
        event_code: &event.event_code,
        event_uuid: &event.event_uuid,
        event_time: event.event_time,
        event_type: event.event_type,
        event_source: event.event_source,
        uid: event.uid.as_deref(),
        push_id: event.push_id.as_deref(),
        email_id: event.email_id.as_deref(),
        mobile_number: event.mobile_number.as_deref(),
        event_attributes: Exported(&event.event_attributes),
        user_attributes: user,
        device_attributes: device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventsMessage;
    use serde_json::json;

    fn stream(user: &[&str], device: &[&str]) -> StreamConfig {
        let list = |names: &[&str]| Selection::List(names.iter().map(|n| n.to_string()).collect());
        let mut stream: StreamConfig = serde_json::from_value(json!({
            "name": "s", "type": "webhook", "url": "https://example.com/hook"
        }))
        .unwrap();
        stream.user_attributes = list(user);
        stream.device_attributes = list(device);
        stream
    }

    fn event() -> Event {
        serde_json::from_value(json!({
            "event_name": "Email Clicked", "event_code": "MOE_EMAIL_CLICK",
            "event_uuid": "u-1", "event_time": 1_580_967_474,
            "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
            "uid": "jane", "email_id": "jane@example.com",
            "event_attributes": {"campaign_id": "c1", "email_click_url": "https://x", "zeta": [1, {"b": "é\"\n"}]},
            "user_attributes": {"city": "Oslo", "plan": "free", "secret": "s", "moengage_user_id": "m-from-event"},
            "device_attributes": {"os": "iOS", "model": "x", "moengage_device_id": "d-1"}
        }))
        .unwrap()
    }

    #[test]
    fn a_webhook_event_is_written_as_the_rules_say() {
        let profile = Profile {
            moengage_user_id: "m-1".into(),
            attributes: serde_json::from_value(json!({"plan": "paid", "age": 40, "tier": "gold"}))
                .unwrap(),
            uid: Some("jane".into()),
            anonymous_ids: Vec::new(),
        };
        let written = serde_json::to_string(&for_webhook(
            &event(),
            Some(&profile),
            &stream(&["city", "plan", "age"], &["os"]),
        ))
        .unwrap();
        // Sorted names; the profile's value wins; the never-exported
        // attribute is left out; moengage ids always go.
        assert_eq!(
            written,
            concat!(
                r#"{"event_name":"Email Clicked","event_code":"MOE_EMAIL_CLICK","event_uuid":"u-1","#,
                r#""event_time":1580967474,"event_type":"CAMPAIGN_EVENT","event_source":"MOENGAGE","#,
                r#""uid":"jane","email_id":"jane@example.com","#,
                r#""event_attributes":{"campaign_id":"c1","zeta":[1,{"b":"é\"\n"}]},"#,
                r#""user_attributes":{"age":40,"city":"Oslo","moengage_user_id":"m-1","plan":"paid"},"#,
                r#""device_attributes":{"moengage_device_id":"d-1","os":"iOS"}}"#
            )
        );
    }

    /// `event` as a consumer reads it from the events queue.
    fn queued(event: &Event) -> Event {
        let body = EventsMessage::pack("ws", std::slice::from_ref(event)).unwrap();
        let mut read: EventsMessage = serde_json::from_str(body[0].as_str()).unwrap();
        read.events.remove(0)
    }

    #[test]
    fn a_queued_event_is_written_as_its_map_would_be() {
        let stream = stream(&["city"], &["os"]);
        let mut plain = event();
        plain.event_attributes.remove("email_click_url");
        let mut escaped = event();
        escaped
            .event_attributes
            .insert("\u{1}email_subject".into(), json!("kept: not the name"));
        for event in [event(), plain, escaped] {
            let from_map = serde_json::to_string(&for_webhook(&event, None, &stream)).unwrap();
            let read = queued(&event);
            assert!(read.event_attributes.text().is_some());
            let from_text = serde_json::to_string(&for_webhook(&read, None, &stream)).unwrap();
            assert_eq!(from_text, from_map);
        }
        // The never-exported attribute is left out of queued text too.
        let read = queued(&event());
        let written = serde_json::to_value(for_webhook(&read, None, &stream)).unwrap();
        assert_eq!(
            written["event_attributes"],
            json!({"campaign_id": "c1", "zeta": [1, {"b": "é\"\n"}]})
        );
    }

    #[test]
    fn a_webhook_event_has_every_field_an_event_has() {
        // WebhookEvent lists Event's fields again: a field added to one
        // and not the other fails here.
        let mut event = event();
        event.push_id = Some("p-1".into());
        event.mobile_number = Some("+4790000000".into());
        let keys =
            |value: Value| -> Vec<String> { value.as_object().unwrap().keys().cloned().collect() };
        let webhook = serde_json::to_value(for_webhook(&event, None, &stream(&[], &[]))).unwrap();
        assert_eq!(keys(webhook), keys(serde_json::to_value(&event).unwrap()));
    }

    #[test]
    fn a_profile_is_read_only_where_it_changes_what_is_sent() {
        let profile = Profile {
            moengage_user_id: "m-from-event".into(),
            attributes: serde_json::from_value(json!({"plan": "paid", "age": 40})).unwrap(),
            uid: Some("jane".into()),
            anonymous_ids: Vec::new(),
        };
        let written = |event: &Event, profile: Option<&Profile>, stream: &StreamConfig| {
            serde_json::to_string(&for_webhook(event, profile, stream)).unwrap()
        };
        let with_id = event();
        let mut without_id = event();
        without_id.user_attributes.remove("moengage_user_id");
        let plain = stream(&[], &["os"]);
        let selecting = stream(&["plan"], &[]);

        // Not read: the profile would change nothing.
        assert!(!reads_profile(&plain, &with_id));
        assert_eq!(
            written(&with_id, Some(&profile), &plain),
            written(&with_id, None, &plain)
        );
        // Read: it supplies a selected attribute, or the user id.
        assert!(reads_profile(&selecting, &with_id));
        assert_ne!(
            written(&with_id, Some(&profile), &selecting),
            written(&with_id, None, &selecting)
        );
        assert!(reads_profile(&plain, &without_id));
        assert_ne!(
            written(&without_id, Some(&profile), &plain),
            written(&without_id, None, &plain)
        );
        let mut everything = plain.clone();
        everything.user_attributes = Selection::all();
        assert!(reads_profile(&everything, &with_id));
        let amplitude: StreamConfig = serde_json::from_value(json!({
            "name": "a", "type": "amplitude", "api_key": "k"
        }))
        .unwrap();
        assert!(reads_profile(&amplitude, &with_id));
    }

    #[test]
    fn without_a_profile_the_events_own_id_is_kept_and_nothing_else_is_added() {
        let mut event = event();
        event.device_attributes = std::sync::Arc::new(Map::new());
        let written: Value =
            serde_json::to_value(for_webhook(&event, None, &stream(&[], &[]))).unwrap();
        assert_eq!(
            written["user_attributes"],
            json!({"moengage_user_id": "m-from-event"})
        );
        assert_eq!(written["device_attributes"], json!({}));
        assert!(written.get("push_id").is_none());
        // The shape decodes as the event it is (docs/interface/events.md).
        let back: Event = serde_json::from_value(written).unwrap();
        assert_eq!(back.event_uuid, "u-1");
    }
}
