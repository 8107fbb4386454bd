//! An event's `event_attributes` and `user_attributes`: a JSON object,
//! held as text where it can be. Read from a queued message, they stay the
//! text they were queued as until something looks into them, and a webhook
//! stream writes that text as it is (streams/enrich.rs); read from a
//! partner's request, they are written straight into the text their map
//! would be ([`Written`]). Built into maps, freed and encoded again, they
//! were the largest share of serve's CPU that one change could take
//! (docs/architecture.md, BENCHMARKS.md "Issue 22, eighteenth session").

use std::borrow::Cow;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde::de::{DeserializeSeed, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub use canonical::Written;
use read::{LongName, Readable, StrNamed};

mod canonical;
mod read;

/// The attributes as a map, read from their queued text on first use.
/// Events are only ever written and read as JSON (queue bodies, dead
/// letters, the console), so the text is written back as it is.
#[derive(Clone, Default)]
pub struct Attributes {
    /// The object as queued, while nothing has changed it.
    text: Option<Box<RawValue>>,
    /// Its longest name's length in bytes, when counted as it was written
    /// ([`Written`], [`Self::text_of`]): the length limits are checked
    /// without reading the text again.
    longest_name: Option<usize>,
    /// The object as a map: given, or read from `text` on first use.
    map: OnceLock<Map<String, Value>>,
}

impl Attributes {
    /// The attributes as the JSON object text they were read as, if they
    /// were read as text and have not changed since.
    pub fn text(&self) -> Option<&RawValue> {
        self.text.as_deref()
    }

    /// Keeps `text` to be read later, once it is known to read as a map.
    fn from_text(text: Box<RawValue>) -> Result<Self, serde_json::Error> {
        // A raw value's text starts at its first byte, never at a space.
        if !text.get().starts_with('{') {
            return Err(serde_json::Error::custom(
                "event attributes must be a JSON object",
            ));
        }
        // A raw value is only JSON's syntax: the map refuses what it
        // accepts beyond that (numbers out of range, lone surrogates, more
        // than 128 levels). Read here as the map would be, keeping nothing,
        // a later read cannot fail.
        serde_json::from_str::<Readable>(text.get())?;
        Ok(Self::written(text, None))
    }

    /// Attributes held as `text`, known to read as a map ([`Written`]
    /// writes it from one; `from_text` checks it): written as it is.
    fn written(text: Box<RawValue>, longest_name: Option<usize>) -> Self {
        Self {
            text: Some(text),
            longest_name,
            map: OnceLock::new(),
        }
    }

    /// `map`'s attributes held as the text it is written as: for
    /// attributes many events carry alike (an mParticle batch's user
    /// attributes), written once and copied as text.
    pub fn text_of(map: &Map<String, Value>) -> Self {
        let text = serde_json::value::to_raw_value(map).expect("a map always serializes");
        Self::written(text, map.keys().map(String::len).max())
    }

    /// The string named `name`, as the map's `get(name)` and
    /// `Value::as_str` give it. Read from the text, without building the
    /// map, unless the string has escapes.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        if let (Some(text), None) = (&self.text, self.map.get()) {
            if let Some(value) = read::only_string(text.get(), name) {
                return Some(value);
            }
            let mut reader = serde_json::Deserializer::from_str(text.get());
            // The text reads as a map (`from_text`, `Written`); `Err` is a
            // string with escapes, read from the map below.
            if let Ok(found) = (StrNamed { name }).deserialize(&mut reader) {
                return found;
            }
        }
        self.get(name).and_then(Value::as_str)
    }

    /// A name longer than `max_bytes`, if any: read from the text without
    /// building the map.
    pub fn name_longer_than(&self, max_bytes: usize) -> Option<Cow<'_, str>> {
        if self
            .longest_name
            .is_some_and(|longest| longest <= max_bytes)
        {
            return None;
        }
        match (&self.text, self.map.get()) {
            (Some(text), None) => {
                let mut reader = serde_json::Deserializer::from_str(text.get());
                // The text reads as a map (`from_text`, `Written`).
                LongName { max_bytes }
                    .deserialize(&mut reader)
                    .ok()
                    .flatten()
            }
            _ => self
                .keys()
                .find(|n| n.len() > max_bytes)
                .map(|n| Cow::Borrowed(n.as_str())),
        }
    }

    pub fn into_map(mut self) -> Map<String, Value> {
        std::mem::take(&mut *self)
    }
}

impl Deref for Attributes {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| match &self.text {
            // `from_text` read the text as a map reads it; `Written`
            // wrote it from values a map reads.
            Some(text) => serde_json::from_str(text.get()).expect("checked when kept"),
            None => Map::new(),
        })
    }
}

impl DerefMut for Attributes {
    /// Changed, the attributes are the map's from now on.
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        let _: &Map<String, Value> = Deref::deref(&*self);
        self.text = None;
        self.longest_name = None;
        self.map.get_mut().expect("read above")
    }
}

impl From<Map<String, Value>> for Attributes {
    fn from(map: Map<String, Value>) -> Self {
        Self {
            text: None,
            longest_name: None,
            map: OnceLock::from(map),
        }
    }
}

impl From<Attributes> for Map<String, Value> {
    fn from(attributes: Attributes) -> Self {
        attributes.into_map()
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.text {
            Some(text) => text.serialize(serializer),
            None => (**self).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Attributes {
    /// Kept as text while a queued message's events are read
    /// (domain/shared_devices.rs); read into a map otherwise.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if super::shared_devices::reading_queued() {
            let text = Box::<RawValue>::deserialize(deserializer)?;
            Self::from_text(text).map_err(D::Error::custom)
        } else {
            Map::deserialize(deserializer).map(Self::from)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, EventsMessage};
    use serde_json::json;

    fn message(attributes: Value) -> String {
        json!({"workspace_id": "ws", "events": [{
            "event_name": "Viewed", "event_code": "Viewed", "event_uuid": "e1",
            "event_time": 1_796_142_619, "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE", "event_attributes": attributes
        }]})
        .to_string()
    }

    #[test]
    fn queued_attributes_stay_text_until_read() {
        let attributes = json!({"a": 1, "b": {"c": ["é\"\n", 2.5]}, "z": null});
        let read: EventsMessage = serde_json::from_str(&message(attributes.clone())).unwrap();
        let event = &read.events[0];
        assert_eq!(
            event.event_attributes.text().map(RawValue::get),
            Some(attributes.to_string().as_str())
        );
        assert_eq!(Value::Object((*event.event_attributes).clone()), attributes);
        // Written again, the text is written as read.
        let written = serde_json::to_value(event).unwrap();
        assert_eq!(written["event_attributes"], attributes);
        let again: Value = serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
        assert_eq!(again["events"][0]["event_attributes"], attributes);
    }

    #[test]
    fn changed_attributes_are_the_map_from_then_on() {
        let read: EventsMessage = serde_json::from_str(&message(json!({"a": 1}))).unwrap();
        let mut event: Event = read.events[0].clone();
        event.event_attributes.insert("b".into(), json!(2));
        assert!(event.event_attributes.text().is_none());
        let written = serde_json::to_value(&event).unwrap();
        assert_eq!(written["event_attributes"], json!({"a": 1, "b": 2}));
    }

    #[test]
    fn attributes_that_are_no_object_are_refused_by_name() {
        for bad in [json!([1]), json!("x"), json!(3)] {
            let e = serde_json::from_str::<EventsMessage>(&message(bad)).unwrap_err();
            assert!(e.to_string().contains("must be a JSON object"), "{e}");
            let e = serde_json::from_value::<Event>(
                serde_json::from_str::<Value>(&message(json!([1]))).unwrap()["events"][0].clone(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("invalid type"), "{e}");
        }
    }

    /// `text` as the attributes of a queued event.
    fn queued(text: &str) -> Result<EventsMessage, serde_json::Error> {
        let body = message(json!({})).replace(
            r#""event_attributes":{}"#,
            &format!(r#""event_attributes":{text}"#),
        );
        serde_json::from_str(&body)
    }

    #[test]
    fn queued_text_a_map_would_refuse_is_refused_when_read() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(128), "]".repeat(128));
        for text in [
            r#"{"a":1e400}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"\udc00":1}"#,
            deep.as_str(),
        ] {
            assert!(
                serde_json::from_str::<Map<String, Value>>(text).is_err(),
                "{text}"
            );
            assert!(queued(text).is_err(), "{text}");
        }
        // What a map reads, queued text reads the same.
        let fine = format!("{{\"a\":{}{}}}", "[".repeat(126), "]".repeat(126));
        for text in [
            r#"{"a":1e300,"a":-0,"b":"\u005f\ud83d\ude00"}"#,
            r#"{ "x" : [ ] }"#,
            fine.as_str(),
        ] {
            let map: Map<String, Value> = serde_json::from_str(text).unwrap();
            let read = queued(text).unwrap();
            assert_eq!(*read.events[0].event_attributes, map, "{text}");
        }
    }

    #[test]
    fn a_long_name_is_found_in_text_and_in_a_map() {
        let long = "n".repeat(300);
        let text = format!(r#"{{"a":[{{"{long}x":1}}],"b\u0062":2,"{long}":3,"{long}y":4}}"#);
        let read = queued(&text).unwrap();
        let attributes = &read.events[0].event_attributes;
        assert_eq!(
            attributes.name_longer_than(256).as_deref(),
            Some(long.as_str())
        );
        assert_eq!(attributes.name_longer_than(301), None);
        assert_eq!(attributes.name_longer_than(1).as_deref(), Some("bb"));
        let map = Attributes::from(attributes.clone().into_map());
        assert_eq!(map.name_longer_than(256).as_deref(), Some(long.as_str()));
    }

    #[test]
    fn a_string_is_read_from_the_text_as_from_the_map() {
        let text = r#"{"id":"m-1","n":2,"id":"m-2","esc":"a\"b","o":{"id":"inner"}}"#;
        let read = queued(text).unwrap();
        let attributes = &read.events[0].event_attributes;
        // The last of a repeated name, as the map keeps it.
        assert_eq!(attributes.get_str("id"), Some("m-2"));
        assert_eq!(attributes.get_str("n"), None);
        assert_eq!(attributes.get_str("inner"), None);
        assert!(attributes.text().is_some(), "read without the map");
        // A string with escapes is the map's.
        assert_eq!(attributes.get_str("esc"), Some("a\"b"));
        assert_eq!(attributes.get_str("id"), Some("m-2"));
        let map: Attributes = json!({"id": "x"}).as_object().cloned().unwrap().into();
        assert_eq!(map.get_str("id"), Some("x"));
        // The one-member shape found by its bytes, and what only looks
        // like it read the usual way.
        for (text, name, found) in [
            (r#"{"id":"m-1"}"#, "id", Some("m-1")),
            (r#"{"":"e"}"#, "", Some("e")),
            (r#"{"id":"m-1","id":"m-2"}"#, "id", Some("m-2")),
            (r#"{"idx":"m-1"}"#, "id", None),
            (r#"{"id":"a\"b"}"#, "id", Some("a\"b")),
            (r#"{"a":"b","c":"x"}"#, r#"a":"b","c"#, None),
            (r#"{"a\"":"x"}"#, "a\"", Some("x")),
        ] {
            let read = queued(text).unwrap();
            let attributes = &read.events[0].event_attributes;
            assert_eq!(attributes.get_str(name), found, "{name} in {text}");
        }
    }

    #[test]
    fn attributes_of_a_map_are_its_text() {
        let map = json!({"moengage_user_id": "m-1", "b\u{e9}": [1]});
        let attributes = Attributes::text_of(map.as_object().unwrap());
        assert_eq!(
            attributes.text().map(RawValue::get),
            Some(map.to_string().as_str())
        );
        assert_eq!(attributes.get_str("moengage_user_id"), Some("m-1"));
        assert_eq!(attributes.name_longer_than(16), None);
        assert_eq!(
            attributes.name_longer_than(15).as_deref(),
            Some("moengage_user_id")
        );
    }

    #[test]
    fn text_and_map_compare_by_content() {
        let read: EventsMessage = serde_json::from_str(&message(json!({"b": 2, "a": 1}))).unwrap();
        let map: Attributes = json!({"a": 1, "b": 2}).as_object().cloned().unwrap().into();
        assert_eq!(read.events[0].event_attributes, map);
        assert_eq!(Attributes::default().len(), 0);
    }
}
