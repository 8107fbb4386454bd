//! Queued events and their device attributes. The events of one mParticle
//! batch share one map of device attributes (BENCHMARKS.md "mParticle
//! ingest"), but on the queue each event spells it out.
//!
//! - Reading a message's `events` ([`events`]), each event's
//!   `device_attributes` text is compared with the one read before it on
//!   this thread and, when equal, the same map is shared again. Read
//!   naively, every event built its own copy, and those maps were most of
//!   the consumers' decoding and freeing (BENCHMARKS.md "Shared device
//!   attributes").
//! - Packing events into messages ([`Packing`]), a map shared with the
//!   event before is written as the text it was written as then.
//!
//! Outside those two, the attributes are read and written plainly.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Event;

type Attributes = Arc<Map<String, Value>>;

/// The device attributes read last, as text and as the map shared.
#[derive(Default)]
struct Last {
    text: Option<Box<RawValue>>,
    map: Attributes,
}

thread_local! {
    /// `Some` while a message's events are read on this thread. Reading is
    /// synchronous, so no other message's events come between.
    static LAST: RefCell<Option<Last>> = const { RefCell::new(None) };
}

/// Sets one of this file's thread-locals while a message is read or
/// packed; restores what it held before (a message read or packed inside
/// another's) when dropped, on error too.
struct Scoped<T: 'static> {
    key: &'static LocalKey<RefCell<Option<T>>>,
    outer: Option<T>,
}

impl<T: 'static> Scoped<T> {
    fn start(key: &'static LocalKey<RefCell<Option<T>>>, value: T) -> Self {
        let outer = key.with(|held| held.replace(Some(value)));
        Self { key, outer }
    }
}

impl<T: 'static> Drop for Scoped<T> {
    fn drop(&mut self) {
        let outer = self.outer.take();
        self.key.with(|held| *held.borrow_mut() = outer);
    }
}

/// `deserialize_with` for a message's `events`.
pub(crate) fn events<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Event>, D::Error> {
    let _reading = Scoped::start(&LAST, Last::default());
    Vec::<Event>::deserialize(deserializer)
}

/// Whether a queued message's events are being read on this thread: its
/// attributes are JSON text then (domain/attributes/).
pub(crate) fn reading_queued() -> bool {
    LAST.with(|last| last.borrow().is_some())
}

/// `deserialize_with` for an event's `device_attributes`.
pub(crate) fn device_attributes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Attributes, D::Error> {
    if LAST.with(|last| last.borrow().is_none()) {
        return Map::deserialize(deserializer).map(Arc::new);
    }
    let text = Box::<RawValue>::deserialize(deserializer)?;
    let same = LAST.with(|last| {
        let last = last.borrow();
        let last = last.as_ref()?;
        let seen = last.text.as_ref()?;
        (seen.get() == text.get()).then(|| last.map.clone())
    });
    if let Some(map) = same {
        return Ok(map);
    }
    let map: Attributes =
        Arc::new(serde_json::from_str(text.get()).map_err(<D::Error as serde::de::Error>::custom)?);
    LAST.with(|last| {
        if let Some(last) = last.borrow_mut().as_mut() {
            *last = Last {
                text: Some(text),
                map: map.clone(),
            };
        }
    });
    Ok(map)
}

/// The device attributes written last while packing: the map (held, so
/// that no other map can take its address meanwhile) and its text.
struct Written {
    map: Attributes,
    text: Box<RawValue>,
}

thread_local! {
    /// `Some` while events are packed on this thread.
    static WRITTEN: RefCell<Option<Option<Written>>> = const { RefCell::new(None) };
}

/// Marks events being packed into messages on this thread, until dropped.
pub(crate) struct Packing {
    _scope: Scoped<Option<Written>>,
}

impl Packing {
    pub(crate) fn start() -> Self {
        let _scope = Scoped::start(&WRITTEN, None);
        Self { _scope }
    }
}

/// `serialize_with` for an event's `device_attributes`.
pub(crate) fn write_device_attributes<S: Serializer>(
    map: &Attributes,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    WRITTEN.with(|written| {
        let mut written = written.borrow_mut();
        let Some(last) = written.as_mut() else {
            return map.serialize(serializer);
        };
        let seen = match last {
            Some(seen) if Arc::ptr_eq(&seen.map, map) => seen,
            _ => last.insert(Written {
                map: map.clone(),
                text: serde_json::value::to_raw_value(&**map)
                    .map_err(<S::Error as serde::ser::Error>::custom)?,
            }),
        };
        seen.text.serialize(serializer)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventsMessage;
    use serde_json::json;

    fn event(uuid: &str, device: Value) -> Value {
        json!({
            "event_name": "Viewed", "event_code": "Viewed", "event_uuid": uuid,
            "event_time": 1_796_142_619, "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE", "uid": "u1",
            "device_attributes": device
        })
    }

    fn message(devices: &[Value]) -> String {
        let events: Vec<Value> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| event(&format!("e{i}"), d.clone()))
            .collect();
        json!({"workspace_id": "ws", "events": events}).to_string()
    }

    fn reading() -> bool {
        LAST.with(|last| last.borrow().is_some())
    }

    #[test]
    fn events_of_one_device_share_its_map() {
        let phone = json!({"platform": "iOS", "moengage_device_id": "d1", "timezone_offset": 0});
        let tablet = json!({"platform": "Android", "moengage_device_id": "d2"});
        let body = message(&[phone.clone(), phone.clone(), tablet.clone(), phone.clone()]);
        let read: EventsMessage = serde_json::from_str(&body).unwrap();
        let maps: Vec<&Attributes> = read.events.iter().map(|e| &e.device_attributes).collect();
        assert!(Arc::ptr_eq(maps[0], maps[1]), "one device, one map");
        assert!(!Arc::ptr_eq(maps[1], maps[2]));
        // Only the one before is remembered: the phone again is read again.
        assert!(!Arc::ptr_eq(maps[0], maps[3]));
        for (event, device) in read.events.iter().zip([&phone, &phone, &tablet, &phone]) {
            assert_eq!(Value::Object((*event.device_attributes).clone()), *device);
        }
        // The same as reading each event on its own.
        let alone: Vec<Event> = serde_json::from_str::<Value>(&body).unwrap()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_value(e.clone()).unwrap())
            .collect();
        assert_eq!(read.events, alone);
        assert!(!reading(), "nothing is remembered after the message");
    }

    #[test]
    fn a_message_reads_the_same_from_a_value_and_from_a_retry() {
        let body = message(&[json!({"a": 1}), json!({"a": 1}), json!({})]);
        let from_text: EventsMessage = serde_json::from_str(&body).unwrap();
        let value: Value = serde_json::from_str(&body).unwrap();
        let from_value: EventsMessage = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(from_text, from_value);
        assert!(Arc::ptr_eq(
            &from_value.events[0].device_attributes,
            &from_value.events[1].device_attributes
        ));

        let retry = json!({
            "workspace_id": "ws", "stream": "s", "moe_request_id": "r",
            "events": value["events"], "attempts": []
        });
        let retry: crate::domain::RetryMessage = serde_json::from_value(retry).unwrap();
        assert_eq!(retry.events, from_text.events);
        assert!(Arc::ptr_eq(
            &retry.events[0].device_attributes,
            &retry.events[1].device_attributes
        ));
    }

    #[test]
    fn a_shared_map_is_packed_as_it_would_be_written_alone() {
        let with_device = |uuid: &str, device: &Attributes| -> Event {
            let mut read: Event = serde_json::from_value(event(uuid, json!({}))).unwrap();
            read.device_attributes = device.clone();
            read
        };
        let phone: Attributes = Arc::new(
            serde_json::from_value(json!({"platform": "iOS", "model": "x", "timezone_offset": 0}))
                .unwrap(),
        );
        let tablet: Attributes =
            Arc::new(serde_json::from_value(json!({"platform": "iPadOS"})).unwrap());
        let same_as_phone: Attributes = Arc::new((*phone).clone());
        let events = vec![
            with_device("e0", &phone),
            with_device("e1", &phone),
            with_device("e2", &tablet),
            with_device("e3", &phone),
            with_device("e4", &same_as_phone),
            with_device("e5", &Attributes::default()),
        ];
        let bodies = EventsMessage::pack("ws", &events).unwrap();
        assert!(
            WRITTEN.with(|w| w.borrow().is_none()),
            "nothing is held after packing"
        );
        let alone: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        assert_eq!(
            bodies[0].as_str(),
            format!(r#"{{"workspace_id":"ws","events":[{}]}}"#, alone.join(","))
        );
        let read: EventsMessage = serde_json::from_str(bodies[0].as_str()).unwrap();
        assert_eq!(read.events, events);
    }

    #[test]
    fn missing_and_wrong_device_attributes() {
        let mut missing = event("e0", json!({}));
        missing.as_object_mut().unwrap().remove("device_attributes");
        let body = json!({"workspace_id": "ws", "events": [missing]}).to_string();
        let read: EventsMessage = serde_json::from_str(&body).unwrap();
        assert!(read.events[0].device_attributes.is_empty());

        let body = message(&[json!({"a": 1}), json!(5)]);
        let error = serde_json::from_str::<EventsMessage>(&body).unwrap_err();
        assert!(error.to_string().contains("expected a map"), "{error}");
        assert!(!reading(), "an error ends the reading too");
        // An event read on its own afterwards is read plainly.
        let alone: Event = serde_json::from_value(event("e1", json!({"b": 2}))).unwrap();
        assert_eq!(alone.device_attributes["b"], 2);
    }
}
