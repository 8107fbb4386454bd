//! mParticle's Events-API JSON (what its Webhook output and the Events API
//! send, docs.mparticle.com "JSON reference") → the internal model.
//!
//! A request is one batch object or an array of batches. `user_identities`
//! is a map `{"customer_id": "..."}` inbound and an array
//! `[{"identity_type", "identity"}]` in mParticle's output: both are read.
//! Events are `{"event_type", "data"}`; the data of unsupported types is not
//! inspected, so a type mParticle adds later is skipped, never rejected.

use serde_json::{Map, Value};

use super::commerce::{self, Format};
use super::json::{Invalid, Node};
use super::model::{Change, EventKind, SourceBatch, SourceEvent};
use super::rules;

/// Batches per request (docs/interface/http.md "Limits").
pub const MAX_BATCHES: usize = 100;

/// Reads a request body: one batch or an array of at most [`MAX_BATCHES`].
pub fn read_request(body: &Value) -> Result<Vec<SourceBatch>, Invalid> {
    read_request_as(body, Form::OneOrMany)
}

/// What a request's body may be: `/events` takes one batch or an array,
/// `/bulkevents` (mParticle's SDKs' bulk upload) an array only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    OneOrMany,
    Array,
}

pub fn read_request_as(body: &Value, form: Form) -> Result<Vec<SourceBatch>, Invalid> {
    let root = Node::root(body);
    match body {
        Value::Array(batches) if batches.len() > MAX_BATCHES => Err(root.invalid(format!(
            "{} batches in one request; at most {MAX_BATCHES} are accepted",
            batches.len()
        ))),
        Value::Array(_) => root.items()?.map(|batch| read_batch(&batch)).collect(),
        Value::Object(_) if form == Form::OneOrMany => Ok(vec![read_batch(&root)?]),
        _ if form == Form::Array => Err(root.invalid("expected an array of batches")),
        _ => Err(root.invalid("expected a batch object or an array of batches")),
    }
}

fn read_batch(node: &Node) -> Result<SourceBatch, Invalid> {
    node.object()?;
    let key = match node.opt_id("batch_id")? {
        Some(id) => Some(id),
        None => node.opt_text("source_request_id")?,
    };
    let identities = match node.get("user_identities") {
        Some(identities) => read_identities(&identities)?,
        None => Vec::new(),
    };
    let deleted_user_attributes = match node.get("deleted_user_attributes") {
        Some(list) => list.items()?.map(|n| n.text()).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let (mut device, mut device_ids) = read_device(node.get("device_info"))?;
    if let Some(id) = node.opt_text("mp_deviceid")? {
        device_ids.push(("mp_deviceid".to_owned(), id));
    }
    // The app's version and the client's IP are batch fields; they describe
    // the device an event came from (docs/rules/mparticle-mapping.md "Events").
    // Read leniently: they were never required, so an odd type is ignored.
    let version = node
        .get("application_info")
        .and_then(|app| app.get("application_version")?.text().ok());
    let ip = node.get("ip").and_then(|ip| ip.text().ok());
    for (name, value) in [("application_version", version), ("ip", ip)] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            device.insert(name.into(), Value::String(value));
        }
    }
    let timestamp_ms = node.opt_millis("timestamp_unixtime_ms")?;
    let mut events = Vec::new();
    if let Some(list) = node.get("events") {
        for event in list.items()? {
            read_event(&event, timestamp_ms, &mut events)?;
        }
    }
    Ok(SourceBatch {
        key,
        mpid: node.opt_id("mpid")?,
        identities,
        user_attributes: node.opt_map("user_attributes")?.into_iter().collect(),
        deleted_user_attributes,
        device,
        device_ids,
        timestamp_ms,
        events,
    })
}

/// `user_identities` as an array of `{identity_type, identity}` or as a map.
/// Null or empty identities are absent.
pub(super) fn read_identities(node: &Node) -> Result<Vec<(String, String)>, Invalid> {
    let mut out = Vec::new();
    if node.value.is_array() {
        for item in node.items()? {
            let kind = item.required_text("identity_type")?;
            if let Some(value) = item.opt_text("identity")?.filter(|v| !v.is_empty()) {
                out.push((rules::identity_type(&kind).to_owned(), value));
            }
        }
    } else {
        for (kind, _) in node.object()? {
            if let Some(value) = node.opt_text(kind)?.filter(|v| !v.is_empty()) {
                out.push((rules::identity_type(kind).to_owned(), value));
            }
        }
    }
    Ok(out)
}

/// `device_info`'s scalar fields, and its device identities.
type Device = (Map<String, Value>, Vec<(String, String)>);

pub(super) fn read_device(node: Option<Node>) -> Result<Device, Invalid> {
    let Some(node) = node else {
        return Ok((Map::new(), Vec::new()));
    };
    let mut device = Map::new();
    let mut ids = Vec::new();
    for (name, value) in node.object()? {
        if value.is_null() || value.is_object() || value.is_array() {
            continue;
        }
        if rules::device_identity(name).is_some()
            && let Some(id) = value.as_str().filter(|s| !s.is_empty())
        {
            ids.push((name.clone(), id.to_owned()));
        }
        device.insert(name.clone(), value.clone());
    }
    Ok((device, ids))
}

/// The event types read; others are skipped and counted, their data unread.
pub(super) fn is_supported(event_type: &str) -> bool {
    matches!(
        event_type,
        "custom_event" | "commerce_event" | "user_attribute_change" | "user_identity_change"
    )
}

/// Reads one event; a commerce event may yield several (one per shape).
pub(super) fn read_event(
    node: &Node,
    batch_timestamp_ms: Option<i64>,
    out: &mut Vec<SourceEvent>,
) -> Result<(), Invalid> {
    node.object()?;
    let event_type = match node.get("event_type") {
        Some(t) => t.string()?,
        None => return Err(node.invalid("missing field \"event_type\"")),
    };
    if !is_supported(event_type) {
        out.push(SourceEvent::unsupported(event_type));
        return Ok(());
    }
    let Some(data) = node.get("data") else {
        return Err(node.invalid("missing field \"data\""));
    };
    read_data(event_type, &data, batch_timestamp_ms, out)
}

/// Reads a supported event's data.
pub(super) fn read_data(
    event_type: &str,
    data: &Node,
    batch_timestamp_ms: Option<i64>,
    out: &mut Vec<SourceEvent>,
) -> Result<(), Invalid> {
    data.object()?;
    let id = match data.opt_id("event_id")? {
        Some(id) => Some(id),
        None => data.opt_text("source_message_id")?,
    };
    let timestamp_ms = data
        .opt_millis("timestamp_unixtime_ms")?
        .or(batch_timestamp_ms);
    let custom = commerce::custom_attributes(data, Format::EventsApi)?;
    let mut push = |kind| {
        out.push(SourceEvent {
            id: id.clone(),
            timestamp_ms,
            kind,
        })
    };
    match event_type {
        "custom_event" => push(EventKind::custom(
            data.opt_text("event_name")?,
            custom.into(),
        )),
        "commerce_event" => {
            let mut shapes = 0;
            if let Some(action) = data.get("product_action") {
                action.object()?;
                let sources = [&action, data];
                push(commerce::product_action(
                    &action,
                    &sources,
                    Format::EventsApi,
                    custom.clone(),
                )?);
                shapes += 1;
            }
            if let Some(action) = data.get("promotion_action") {
                action.object()?;
                push(commerce::promotion_action(
                    &action,
                    Format::EventsApi,
                    custom.clone(),
                )?);
                shapes += 1;
            }
            if let Some(list) = data.get("product_impressions") {
                push(commerce::impressions(
                    Some(list),
                    Format::EventsApi,
                    custom,
                )?);
                shapes += 1;
            }
            if shapes == 0 {
                push(EventKind::Unsupported(event_type.to_owned()));
            }
        }
        "user_attribute_change" => {
            let name = data.required_text("user_attribute_name")?;
            let change = if data.opt_bool("deleted")? == Some(true) {
                Change::Remove(name)
            } else {
                let new = data.get("new").map_or(Value::Null, |n| n.value.clone());
                Change::Set(name, new)
            };
            push(EventKind::AttributeChanges(vec![change]));
        }
        _ => push(EventKind::IdentityChanges(identity_change(data)?)),
    }
    Ok(())
}

/// `user_identity_change`: `old` is removed, then `new` (if it has a value)
/// is set, so replacing an identity of the same type keeps the new one.
fn identity_change(data: &Node) -> Result<Vec<Change>, Invalid> {
    let mut changes = Vec::new();
    if let Some(old) = data.get("old") {
        let kind = old.required_text("identity_type")?;
        changes.push(Change::Remove(rules::identity_type(&kind).to_owned()));
    }
    if let Some(new) = data.get("new") {
        let kind = rules::identity_type(&new.required_text("identity_type")?).to_owned();
        match new.opt_text("identity")?.filter(|v| !v.is_empty()) {
            Some(value) => changes.push(Change::Set(kind, Value::String(value))),
            None => changes.push(Change::Remove(kind)),
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identities_as_array_or_map_read_the_same() {
        let array = json!({"user_identities": [
            {"identity_type": "customer_id", "identity": "c1", "timestamp_unixtime_ms": 1},
            {"identity_type": "email", "identity": null}
        ]});
        let map = json!({"user_identities": {"customer_id": "c1", "email": null}});
        let a = read_request(&array).unwrap().remove(0);
        let m = read_request(&map).unwrap().remove(0);
        assert_eq!(a.identities, vec![("customer_id".into(), "c1".into())]);
        assert_eq!(a.identities, m.identities);
    }

    #[test]
    fn commerce_event_with_two_shapes_yields_two_events() {
        let body = json!({"events": [{"event_type": "commerce_event", "data": {
            "event_id": 7,
            "currency_code": "EUR",
            "product_action": {"action": "purchase", "total_amount": "10.5", "products": []},
            "product_impressions": [{"product_impression_list": "home", "products": []}]
        }}]});
        let batch = read_request(&body).unwrap().remove(0);
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[0].id.as_deref(), Some("7"));
        let EventKind::Emit { name, attributes } = &batch.events[0].kind else {
            panic!("{:?}", batch.events[0].kind)
        };
        assert_eq!(name, "purchase");
        assert_eq!(attributes["currency_code"], "EUR");
        assert_eq!(attributes["total_amount"], json!(10.5));
    }

    #[test]
    fn errors_name_the_path() {
        let body = json!([{}, {"events": [{"event_type": "custom_event", "data": []}]}]);
        let e = read_request(&body).unwrap_err();
        assert_eq!(e.path, "[1].events[0].data");
        assert!(e.problem.contains("expected an object"), "{e}");
        let e = read_request(&json!("x")).unwrap_err();
        assert_eq!(
            e.message(),
            "invalid request body: expected a batch object or an array of batches"
        );
    }
}
