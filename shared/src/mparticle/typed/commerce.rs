//! Product-action commerce events in the typed reader: the tables of
//! rules.rs and the lenient readers of json.rs, applied as the fields
//! arrive, with what commerce.rs makes of them (one event named by the
//! action, its products as objects). A commerce event with a promotion or
//! impressions is not read here: parsing fails and the caller reads its
//! data as a `Value` with commerce.rs.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::super::json::{amount_of, id_of, millis_of, text_of};
use super::super::model::{EventKind, SourceEvent};
use super::super::rules::{Field, FieldKind, PRODUCT_ACTION_FIELDS, PRODUCT_FIELDS};
use super::{give_up, scalar};

/// A table field's value, as commerce.rs reads it.
fn field_value<E: de::Error>(field: &Field, value: &Value) -> Result<Value, E> {
    match field.kind {
        FieldKind::Text => text_of(value).map(Value::String),
        FieldKind::Amount => amount_of(value).map(Value::Number),
    }
    .ok_or_else(|| E::custom("a commerce field commerce.rs refuses"))
}

/// Reads `key`'s value into `found` at the position of each table field
/// named `key`; false when the table has none.
fn table_field<'de, A: MapAccess<'de>>(
    table: &[Field],
    key: &str,
    found: &mut [Option<Value>],
    map: &mut A,
) -> Result<bool, A::Error> {
    let Some(first) = table.iter().position(|f| f.events_api == key) else {
        return Ok(false);
    };
    let value: Option<Value> = map.next_value()?;
    for (slot, field) in found.iter_mut().zip(table).skip(first) {
        if field.events_api == key {
            slot.clone_from(&value);
        }
    }
    Ok(true)
}

/// A commerce event's data with a product action and no other shape.
pub(super) struct CommerceData {
    event_id: Option<Value>,
    source_message_id: Option<Value>,
    timestamp_ms: Option<Value>,
    custom_attributes: Option<Map<String, Value>>,
    action: Option<ActionIn>,
    /// PRODUCT_ACTION_FIELDS on the event itself (the action's come first).
    fields: Vec<Option<Value>>,
}

impl CommerceData {
    /// What events_api.rs's `read_data` pushes for this data.
    pub(super) fn read<E: de::Error>(
        self,
        batch_timestamp_ms: Option<i64>,
        out: &mut Vec<SourceEvent>,
    ) -> Result<(), E> {
        let id = match scalar(self.event_id, id_of)? {
            Some(id) => Some(id),
            None => scalar(self.source_message_id, text_of)?,
        };
        let timestamp_ms = scalar(self.timestamp_ms, millis_of)?.or(batch_timestamp_ms);
        let mut attributes = self.custom_attributes.unwrap_or_default();
        let Some(action) = self.action else {
            out.push(SourceEvent {
                id,
                timestamp_ms,
                kind: EventKind::Unsupported("commerce_event".to_owned()),
            });
            return Ok(());
        };
        let name = scalar(action.action, text_of)?
            .filter(|name| !name.is_empty())
            .ok_or_else(give_up)?;
        let on_event = self.fields.into_iter();
        for ((field, on_action), on_event) in PRODUCT_ACTION_FIELDS
            .iter()
            .zip(action.fields)
            .zip(on_event)
        {
            if let Some(value) = on_action.or(on_event) {
                attributes.insert(field.attribute.to_owned(), field_value(field, &value)?);
            }
        }
        attributes.insert("products".into(), Value::Array(action.products));
        out.push(SourceEvent {
            id,
            timestamp_ms,
            kind: EventKind::Emit {
                name,
                attributes: attributes.into(),
            },
        });
        Ok(())
    }
}

impl<'de> de::Deserialize<'de> for CommerceData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CommerceVisitor)
    }
}

struct CommerceVisitor;

impl<'de> Visitor<'de> for CommerceVisitor {
    type Value = CommerceData;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a commerce event's data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CommerceData, A::Error> {
        let mut data = CommerceData {
            event_id: None,
            source_message_id: None,
            timestamp_ms: None,
            custom_attributes: None,
            action: None,
            fields: vec![None; PRODUCT_ACTION_FIELDS.len()],
        };
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "event_id" => data.event_id = map.next_value()?,
                "source_message_id" => data.source_message_id = map.next_value()?,
                "timestamp_unixtime_ms" => data.timestamp_ms = map.next_value()?,
                "custom_attributes" => data.custom_attributes = map.next_value()?,
                "product_action" => data.action = map.next_value()?,
                "promotion_action" | "product_impressions" => {
                    if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                        return Err(give_up());
                    }
                }
                _ => {
                    if !table_field(PRODUCT_ACTION_FIELDS, key, &mut data.fields, &mut map)? {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        Ok(data)
    }
}

/// A product action: its name, its fields, its products read.
struct ActionIn {
    action: Option<Value>,
    fields: Vec<Option<Value>>,
    products: Vec<Value>,
}

impl<'de> de::Deserialize<'de> for ActionIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ActionVisitor)
    }
}

struct ActionVisitor;

impl<'de> Visitor<'de> for ActionVisitor {
    type Value = ActionIn;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a product action")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ActionIn, A::Error> {
        let mut action = ActionIn {
            action: None,
            fields: vec![None; PRODUCT_ACTION_FIELDS.len()],
            products: Vec::new(),
        };
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "action" => action.action = map.next_value()?,
                "products" => {
                    let products: Option<Vec<Product>> = map.next_value()?;
                    action.products = products
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| p.0)
                        .collect();
                }
                _ => {
                    if !table_field(PRODUCT_ACTION_FIELDS, key, &mut action.fields, &mut map)? {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        Ok(action)
    }
}

/// One product as commerce.rs makes it: its custom attributes, then the
/// standard fields (which win a name clash).
struct Product(Value);

impl<'de> de::Deserialize<'de> for Product {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ProductVisitor)
    }
}

struct ProductVisitor;

impl<'de> Visitor<'de> for ProductVisitor {
    type Value = Product;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a product")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Product, A::Error> {
        let mut custom: Option<Map<String, Value>> = None;
        let mut fields = vec![None; PRODUCT_FIELDS.len()];
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == "custom_attributes" {
                custom = map.next_value()?;
            } else if !table_field(PRODUCT_FIELDS, key, &mut fields, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let mut out = custom.unwrap_or_default();
        for (field, value) in PRODUCT_FIELDS.iter().zip(fields) {
            if let Some(value) = value {
                out.insert(field.attribute.to_owned(), field_value(field, &value)?);
            }
        }
        Ok(Product(Value::Object(out)))
    }
}
