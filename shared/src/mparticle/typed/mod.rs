//! The Events-API body read in one typed pass over the bytes (issue 22;
//! BENCHMARKS.md "mParticle ingest"): no `Value` tree for the batches,
//! events and custom-event data, attribute maps built once and moved into
//! the batch, unknown fields skipped without allocating, event data of
//! unsupported types never parsed.
//!
//! It only answers for input it reads exactly as events_api.rs does (the
//! property `events_typed_reader_agrees` holds it to that): on anything
//! else — bad input, an escaped field name, a shape it leaves to the other
//! reader — it gives up, and the caller reads the body with events_api.rs,
//! whose errors name the JSON path. One difference is deliberate: in a
//! field neither reader uses, valid JSON that a `Value` cannot hold (nested
//! deeper than serde_json's 128 levels, a number beyond f64's range) is
//! skipped, without recursing, where parsing the whole body into a `Value`
//! refused the request. Custom events and product actions are read here
//! (commerce.rs); the other supported events (promotions, impressions,
//! attribute and identity changes) by events_api.rs's `read_data` from a
//! `Value` of their data.

mod commerce;
mod event;

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use event::EventIn;

use super::events_api::{Form, MAX_BATCHES, read_device, read_identities};
use super::json::{Invalid, Node, id_of, millis_of, text_of};
use super::model::SourceBatch;

/// Reads a request body, or `None` when events_api.rs must read it.
pub fn read(body: &[u8], form: Form) -> Option<Vec<SourceBatch>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let batches = de.deserialize_any(Request { form }).ok()?;
    de.end().ok()?;
    Some(batches)
}

/// Why the typed reader stopped; never shown (the other reader explains).
fn give_up<E: de::Error>() -> E {
    E::custom("left to the path-naming reader")
}

/// A result of events_api.rs's readers: its error gives up.
fn ok<T, E: de::Error>(read: Result<T, Invalid>) -> Result<T, E> {
    read.map_err(|_| give_up())
}

/// An optional scalar read with one of json.rs's lenient readers: absent
/// or null is `None`, a value that reader refuses gives up.
fn scalar<T, E: de::Error>(
    value: Option<Value>,
    read: fn(&Value) -> Option<T>,
) -> Result<Option<T>, E> {
    value.map(|v| read(&v).ok_or_else(give_up)).transpose()
}

struct Request {
    form: Form,
}

impl<'de> Visitor<'de> for Request {
    type Value = Vec<SourceBatch>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a batch or an array of batches")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut batches = Vec::new();
        while let Some(batch) = seq.next_element_seed(BatchSeed)? {
            if batches.len() == MAX_BATCHES {
                return Err(give_up());
            }
            batches.push(batch);
        }
        Ok(batches)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        if self.form != Form::OneOrMany {
            return Err(give_up());
        }
        Ok(vec![BatchSeed.visit_map(map)?])
    }
}

/// One batch object (an array in its place gives up, as a struct would
/// otherwise read it positionally).
struct BatchSeed;

impl<'de> DeserializeSeed<'de> for BatchSeed {
    type Value = SourceBatch;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SourceBatch, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// A batch's fields as sent; a repeated field keeps its last value, as a
/// `Value` object does.
#[derive(Default)]
struct BatchFields<'de> {
    events: Option<Vec<EventIn<'de>>>,
    identities: Option<Value>,
    user_attributes: Option<Map<String, Value>>,
    deleted_user_attributes: Option<Value>,
    device_info: Option<Value>,
    application_info: Option<Value>,
    ip: Option<Value>,
    mp_deviceid: Option<Value>,
    mpid: Option<Value>,
    batch_id: Option<Value>,
    source_request_id: Option<Value>,
    timestamp_ms: Option<Value>,
}

impl<'de> Visitor<'de> for BatchSeed {
    type Value = SourceBatch;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a batch object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourceBatch, A::Error> {
        let mut b = BatchFields::default();
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "events" => b.events = map.next_value::<Option<Vec<EventIn>>>()?,
                "user_identities" => b.identities = map.next_value()?,
                "user_attributes" => b.user_attributes = map.next_value()?,
                "deleted_user_attributes" => b.deleted_user_attributes = map.next_value()?,
                "device_info" => b.device_info = map.next_value()?,
                "application_info" => b.application_info = map.next_value()?,
                "ip" => b.ip = map.next_value()?,
                "mp_deviceid" => b.mp_deviceid = map.next_value()?,
                "mpid" => b.mpid = map.next_value()?,
                "batch_id" => b.batch_id = map.next_value()?,
                "source_request_id" => b.source_request_id = map.next_value()?,
                "timestamp_unixtime_ms" => b.timestamp_ms = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        b.into_batch()
    }
}

impl BatchFields<'_> {
    /// What events_api.rs's `read_batch` makes of the same fields.
    fn into_batch<E: de::Error>(self) -> Result<SourceBatch, E> {
        let key = match scalar(self.batch_id, id_of)? {
            Some(id) => Some(id),
            None => scalar(self.source_request_id, text_of)?,
        };
        let identities = match &self.identities {
            Some(identities) => ok(read_identities(&Node::root(identities)))?,
            None => Vec::new(),
        };
        let deleted_user_attributes = match &self.deleted_user_attributes {
            Some(list) => ok(Node::root(list)
                .items()
                .and_then(|items| items.map(|n| n.text()).collect()))?,
            None => Vec::new(),
        };
        let (mut device, mut device_ids) =
            ok(read_device(self.device_info.as_ref().map(Node::root)))?;
        if let Some(id) = scalar(self.mp_deviceid, text_of)? {
            device_ids.push(("mp_deviceid".to_owned(), id));
        }
        let version = self
            .application_info
            .as_ref()
            .and_then(|app| app.get("application_version").and_then(text_of));
        let ip = self.ip.as_ref().and_then(text_of);
        for (name, value) in [("application_version", version), ("ip", ip)] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                device.insert(name.into(), Value::String(value));
            }
        }
        let timestamp_ms = scalar(self.timestamp_ms, millis_of)?;
        let mut events = Vec::new();
        for event in self.events.unwrap_or_default() {
            event.read(timestamp_ms, &mut events)?;
        }
        Ok(SourceBatch {
            key,
            mpid: scalar(self.mpid, id_of)?,
            identities,
            user_attributes: self
                .user_attributes
                .unwrap_or_default()
                .into_iter()
                .collect(),
            deleted_user_attributes,
            device,
            device_ids,
            timestamp_ms,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mparticle::events_api::read_request_as;

    fn by_path(body: &[u8], form: Form) -> Result<Vec<SourceBatch>, Invalid> {
        read_request_as(&serde_json::from_slice(body).expect("json"), form)
    }

    #[test]
    fn mparticles_samples_read_the_same_either_way() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/mparticle");
        let mut samples = 0;
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.starts_with("events-api-") && name.ends_with(".json")) {
                continue;
            }
            let body = std::fs::read(&path).expect("fixture");
            let typed = read(&body, Form::OneOrMany);
            assert!(typed.is_some(), "{name}: the typed reader gave up");
            assert_eq!(
                typed.map(Ok),
                Some(by_path(&body, Form::OneOrMany)),
                "{name}"
            );
            samples += 1;
        }
        assert!(samples >= 5, "{samples} samples");
    }

    #[test]
    fn what_it_does_not_read_exactly_is_left_to_the_other_reader() {
        let give_up = [
            // Wrong types, which the other reader names by path.
            r#"{"events": [{"event_type": "custom_event", "data": {"event_name": {}}}]}"#,
            r#"{"events": [{"event_type": "custom_event", "data": ["A"]}]}"#,
            r#"{"events": [{"event_type": "custom_event"}]}"#,
            r#"{"events": [{"data": {}}]}"#,
            r#"{"mpid": 1.5}"#,
            r#"[["a batch as an array"]]"#,
            r#"{} trailing"#,
            // An escaped field name: a borrowed key cannot hold it.
            r#"{"ev\u0065nts": []}"#,
        ];
        for body in give_up {
            assert!(read(body.as_bytes(), Form::OneOrMany).is_none(), "{body}");
        }
        assert!(
            read(b"{}", Form::Array).is_none(),
            "/bulkevents takes an array"
        );
        let many = format!("[{}]", vec!["{}"; MAX_BATCHES + 1].join(","));
        assert!(read(many.as_bytes(), Form::OneOrMany).is_none());
        let most = format!("[{}]", vec!["{}"; MAX_BATCHES].join(","));
        assert_eq!(
            read(most.as_bytes(), Form::Array).map(|b| b.len()),
            Some(MAX_BATCHES)
        );
    }

    /// A custom attribute nested `depth` levels, in a custom event.
    fn nested_attribute(depth: usize) -> String {
        format!(
            r#"{{"events": [{{"event_type": "custom_event", "data": {{"event_name": "A", "custom_attributes": {{"a": {}{}}}}}}}]}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    }

    #[test]
    fn custom_attributes_it_takes_are_read_back_from_the_queue() {
        // Queued, the attributes are read as a map reads their text (a
        // consumer checks that as it reads a message): what this reader
        // takes reads back; one level more and it leaves the body to the
        // other reader, which refuses it whole.
        let taken = read(nested_attribute(126).as_bytes(), Form::OneOrMany).expect("read");
        let crate::mparticle::model::EventKind::Emit { attributes, .. } = &taken[0].events[0].kind
        else {
            panic!("a custom event");
        };
        let queued = serde_json::to_string(attributes).unwrap();
        assert!(serde_json::from_str::<serde_json::Map<String, Value>>(&queued).is_ok());
        let deeper = nested_attribute(127);
        assert!(read(deeper.as_bytes(), Form::OneOrMany).is_none());
        assert!(
            serde_json::from_str::<Value>(&deeper).is_err(),
            "a 400 at the door"
        );
    }

    #[test]
    fn a_repeated_field_keeps_its_last_value_as_a_value_object_does() {
        let body = br#"{"mpid": 1, "events": [{"event_type": "x"}], "mpid": 2,
            "events": [{"data": {"event_name": "A", "event_name": "B"}, "event_type": "custom_event"}]}"#;
        let typed = read(body, Form::OneOrMany).expect("read");
        assert_eq!(Ok(typed.clone()), by_path(body, Form::OneOrMany));
        assert_eq!(typed[0].mpid.as_deref(), Some("2"));
        assert_eq!(typed[0].events.len(), 1);
    }
}
