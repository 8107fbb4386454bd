//! Commerce events (docs/rules/mparticle-mapping.md): a product action becomes
//! ONE event named by the action, never expanded per product; promotions and
//! impressions become one event each. Shared by both formats, which differ
//! only in field names (see the tables in rules.rs).

use serde_json::{Map, Value};

use super::json::{Invalid, Node};
use super::model::EventKind;
use super::rules::{
    Field, FieldKind, IMPRESSION_LIST_FIELD, IMPRESSION_TYPE, PRODUCT_ACTION_FIELDS,
    PRODUCT_FIELDS, PROMOTION_FIELDS, PROMOTION_TYPE,
};

/// Which format's field names to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    EventsApi,
    Firehose,
}

impl Format {
    fn name(self, field: &Field) -> &'static str {
        match self {
            Self::EventsApi => field.events_api,
            Self::Firehose => field.firehose,
        }
    }

    /// Where custom attributes live on an event or a product.
    pub fn attributes_key(self) -> &'static str {
        match self {
            Self::EventsApi => "custom_attributes",
            Self::Firehose => "attributes",
        }
    }
}

/// Copies each field of `table` found in the first of `sources` that has it
/// into `out`, under its attribute name.
fn read_fields(
    sources: &[&Node],
    table: &[Field],
    format: Format,
    out: &mut Map<String, Value>,
) -> Result<(), Invalid> {
    for field in table {
        let name = format.name(field);
        let Some(node) = sources.iter().find_map(|n| n.get(name)) else {
            continue;
        };
        let value = match field.kind {
            FieldKind::Text => Value::String(node.text()?),
            FieldKind::Amount => Value::Number(node.amount()?),
        };
        out.insert(field.attribute.to_owned(), value);
    }
    Ok(())
}

/// Custom attributes (an object) of an event or product; empty when absent.
pub fn custom_attributes(node: &Node, format: Format) -> Result<Map<String, Value>, Invalid> {
    node.opt_map(format.attributes_key())
}

/// One product: its custom attributes, then the standard fields (which win
/// a name clash, so `id` is always the product id).
fn product(node: &Node, format: Format) -> Result<Value, Invalid> {
    node.object()?;
    let mut out = custom_attributes(node, format)?;
    read_fields(&[node], PRODUCT_FIELDS, format, &mut out)?;
    Ok(Value::Object(out))
}

fn list<F>(node: Option<Node>, read: F) -> Result<Vec<Value>, Invalid>
where
    F: Fn(&Node) -> Result<Value, Invalid>,
{
    match node {
        Some(node) => node.items()?.map(|item| read(&item)).collect(),
        None => Ok(Vec::new()),
    }
}

/// A product action: `action` names the event; the transaction fields are
/// read from `sources` in order (the Events API keeps `currency_code` on the
/// commerce event, Firehose on the action).
pub fn product_action(
    action: &Node,
    sources: &[&Node],
    format: Format,
    custom: Map<String, Value>,
) -> Result<EventKind, Invalid> {
    let name = action.required_text("action")?;
    let mut attributes = custom;
    read_fields(sources, PRODUCT_ACTION_FIELDS, format, &mut attributes)?;
    let products = list(action.get("products"), |p| product(p, format))?;
    attributes.insert("products".into(), Value::Array(products));
    Ok(EventKind::Emit {
        name,
        attributes: attributes.into(),
    })
}

/// A promotion action: ONE event `promotion_<action>` with `promotions`.
pub fn promotion_action(
    action: &Node,
    format: Format,
    custom: Map<String, Value>,
) -> Result<EventKind, Invalid> {
    let name = format!("promotion_{}", action.required_text("action")?);
    let promotions = list(action.get("promotions"), |p| {
        p.object()?;
        let mut out = Map::new();
        read_fields(&[p], PROMOTION_FIELDS, format, &mut out)?;
        Ok(Value::Object(out))
    })?;
    let mut attributes = custom;
    attributes.insert("promotions".into(), Value::Array(promotions));
    Ok(EventKind::Gated {
        name,
        attributes: attributes.into(),
        skip_as: PROMOTION_TYPE,
    })
}

/// Product impressions: ONE event `impression` with `impressions`.
pub fn impressions(
    list_node: Option<Node>,
    format: Format,
    custom: Map<String, Value>,
) -> Result<EventKind, Invalid> {
    let impressions = list(list_node, |i| {
        i.object()?;
        let mut out = Map::new();
        read_fields(&[i], &[IMPRESSION_LIST_FIELD], format, &mut out)?;
        let products = list(i.get("products"), |p| product(p, format))?;
        out.insert("products".into(), Value::Array(products));
        Ok(Value::Object(out))
    })?;
    let mut attributes = custom;
    attributes.insert("impressions".into(), Value::Array(impressions));
    Ok(EventKind::Gated {
        name: IMPRESSION_TYPE.to_owned(),
        attributes: attributes.into(),
        skip_as: IMPRESSION_TYPE,
    })
}
