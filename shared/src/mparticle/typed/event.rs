//! One event in the typed reader: custom events read here, product
//! actions in commerce.rs, the other supported types by events_api.rs from
//! a `Value` of their data, unsupported types counted with their data
//! unread.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::super::events_api::{is_supported, read_data};
use super::super::json::{Node, id_of, millis_of, text_of};
use super::super::model::{EventKind, SourceEvent};
use super::commerce::CommerceData;
use super::{give_up, ok, scalar};
use crate::domain::attributes::Written;

/// One event as sent: its type, and its data kept raw until the type says
/// how to read it (mParticle writes `data` before `event_type`).
pub(super) struct EventIn<'de> {
    event_type: Cow<'de, str>,
    data: Option<&'de RawValue>,
}

impl<'de> de::Deserialize<'de> for EventIn<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EventIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventIn<'de>, A::Error> {
        let (mut event_type, mut data) = (None, None);
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "event_type" => event_type = map.next_value::<Option<Cow<'de, str>>>()?,
                "data" => data = map.next_value::<Option<&'de RawValue>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(EventIn {
            event_type: event_type.ok_or_else(give_up)?,
            data,
        })
    }
}

impl EventIn<'_> {
    pub(super) fn read<E: de::Error>(
        self,
        batch_timestamp_ms: Option<i64>,
        out: &mut Vec<SourceEvent>,
    ) -> Result<(), E> {
        match (&*self.event_type, self.data) {
            ("custom_event", Some(data)) => {
                let data: CustomData = serde_json::from_str(data.get()).map_err(|_| give_up())?;
                out.push(SourceEvent {
                    id: match scalar(data.event_id, id_of)? {
                        Some(id) => Some(id),
                        None => scalar(data.source_message_id, text_of)?,
                    },
                    timestamp_ms: scalar(data.timestamp_ms, millis_of)?.or(batch_timestamp_ms),
                    kind: EventKind::custom(
                        scalar(data.event_name, text_of)?,
                        data.custom_attributes.map(|w| w.0).unwrap_or_default(),
                    ),
                });
                Ok(())
            }
            ("commerce_event", Some(raw))
                if let Ok(data) = serde_json::from_str::<CommerceData>(raw.get()) =>
            {
                data.read(batch_timestamp_ms, out)
            }
            // events_api.rs reads the other supported types (and commerce
            // events with other shapes) from a `Value` of their data; an
            // unsupported type's data is not looked at.
            (event_type, Some(raw)) if is_supported(event_type) => {
                let data: Value = serde_json::from_str(raw.get()).map_err(|_| give_up())?;
                ok(read_data(
                    event_type,
                    &Node::root(&data),
                    batch_timestamp_ms,
                    out,
                ))
            }
            (event_type, None) if is_supported(event_type) => Err(give_up()),
            (event_type, _) => {
                out.push(SourceEvent::unsupported(event_type));
                Ok(())
            }
        }
    }
}

/// A custom event's data: the fields events_api.rs reads, others skipped.
struct CustomData {
    event_id: Option<Value>,
    source_message_id: Option<Value>,
    timestamp_ms: Option<Value>,
    event_name: Option<Value>,
    /// Written as the map of them would be, without building it.
    custom_attributes: Option<Written>,
}

impl<'de> de::Deserialize<'de> for CustomData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CustomDataVisitor)
    }
}

struct CustomDataVisitor;

impl<'de> Visitor<'de> for CustomDataVisitor {
    type Value = CustomData;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a custom event's data object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomData, A::Error> {
        let mut data = CustomData {
            event_id: None,
            source_message_id: None,
            timestamp_ms: None,
            event_name: None,
            custom_attributes: None,
        };
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "event_id" => data.event_id = map.next_value()?,
                "source_message_id" => data.source_message_id = map.next_value()?,
                "timestamp_unixtime_ms" => data.timestamp_ms = map.next_value()?,
                "event_name" => data.event_name = map.next_value()?,
                "custom_attributes" => data.custom_attributes = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(data)
    }
}
