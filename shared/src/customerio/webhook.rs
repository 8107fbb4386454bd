//! Reading one reporting webhook (docs/rules/customerio.md "The webhook"):
//! `{event_id, object_type, metric, timestamp, data}`, every name and id
//! checked against the limits of `crate::input::limits` before anything is
//! written. Unknown object types and metrics are accepted: names are built
//! from them, not looked up.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::input::{check_len, limits, parse_json};

/// A reporting webhook as read, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub event_id: String,
    pub object_type: String,
    pub metric: String,
    /// Epoch seconds, as sent.
    pub timestamp: i64,
    pub data: Map<String, Value>,
}

#[derive(Deserialize)]
struct Body {
    event_id: String,
    object_type: String,
    metric: String,
    timestamp: i64,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

fn bad(problem: impl std::fmt::Display) -> RequestError {
    RequestError::bad_request(problem.to_string())
}

/// `object_type` and `metric` become the event's name and code: lower-case
/// words joined by `_` (`in_app`, `cio_subscription_preferences_changed`).
fn check_word(field: &str, value: &str) -> Result<(), RequestError> {
    check_len(field, value, limits::ATTRIBUTE_NAME_BYTES).map_err(bad)?;
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(bad(format!(
            "{field} must be letters, digits and _ (like \"in_app\" or \"clicked\")"
        )));
    }
    Ok(())
}

/// A person id as Customer.io sends it: a string (a number is read as its
/// digits); null or empty is no id.
pub fn id_value(data: &Map<String, Value>, path: &[&str]) -> Result<Option<String>, RequestError> {
    let mut value = Some(data.get(path[0]));
    for key in &path[1..] {
        value = value.map(|v| v.and_then(|v| v.get(key)));
    }
    let field = format!("data.{}", path.join("."));
    let id = match value.flatten() {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(bad(format!("{field} must be a string"))),
    };
    check_len(&field, &id, limits::USER_ID_BYTES).map_err(bad)?;
    Ok((!id.trim().is_empty()).then_some(id))
}

/// Parses and checks a webhook body.
pub fn read(body: &[u8]) -> Result<Webhook, RequestError> {
    let body: Body = parse_json(body)?;
    if body.event_id.trim().is_empty() {
        return Err(bad("event_id must not be empty"));
    }
    check_len("event_id", &body.event_id, limits::KEY_BYTES).map_err(bad)?;
    check_word("object_type", &body.object_type)?;
    check_word("metric", &body.metric)?;
    let data = body.data.unwrap_or_default();
    for key in data.keys() {
        check_len("a data field name", key, limits::ATTRIBUTE_NAME_BYTES).map_err(bad)?;
    }
    if let Some(identifiers) = data.get("identifiers")
        && !identifiers.is_object()
        && !identifiers.is_null()
    {
        return Err(bad("data.identifiers must be an object"));
    }
    Ok(Webhook {
        event_id: body.event_id,
        object_type: body.object_type,
        metric: body.metric,
        timestamp: body.timestamp,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        read(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_envelope() {
        let w = read(br#"{"event_id":"01E","object_type":"in_app","metric":"clicked","timestamp":1,"data":{"a":1}}"#).unwrap();
        assert_eq!(
            (w.object_type.as_str(), w.metric.as_str()),
            ("in_app", "clicked")
        );
        assert_eq!(w.data["a"], 1);
        let w = read(
            br#"{"event_id":"x","object_type":"customer","metric":"subscribed","timestamp":1}"#,
        )
        .unwrap();
        assert!(w.data.is_empty());
    }

    #[test]
    fn bad_input_is_named() {
        assert!(err("{").contains("not valid JSON"));
        assert!(
            err(r#"{"object_type":"email","metric":"sent","timestamp":1}"#).contains("event_id")
        );
        assert!(
            err(r#"{"event_id":"x","object_type":"email","metric":"sent","timestamp":"abc"}"#)
                .contains("timestamp")
        );
        assert!(
            err(r#"{"event_id":" ","object_type":"email","metric":"sent","timestamp":1}"#)
                .contains("event_id must not be empty")
        );
        assert!(
            err(r#"{"event_id":"x","object_type":"e mail","metric":"sent","timestamp":1}"#)
                .contains("object_type must be")
        );
        assert!(
            err(r#"{"event_id":"x","object_type":"email","metric":"","timestamp":1}"#)
                .contains("metric must be")
        );
        assert!(err(r#"{"event_id":"x","object_type":"email","metric":"sent","timestamp":1,"data":{"identifiers":7}}"#).contains("data.identifiers"));
        let long = format!(
            r#"{{"event_id":"{}","object_type":"email","metric":"sent","timestamp":1}}"#,
            "x".repeat(limits::KEY_BYTES + 1)
        );
        let e = err(&long);
        assert!(
            e.contains("event_id is 257 bytes long") && e.len() < 200,
            "{e}"
        );
    }

    #[test]
    fn ids_are_strings_or_numbers() {
        let data: Map<String, Value> = serde_json::from_str(
            r#"{"identifiers":{"id":42,"email":null},"customer_id":"","x":{"id":[1]}}"#,
        )
        .unwrap();
        assert_eq!(
            id_value(&data, &["identifiers", "id"]).unwrap(),
            Some("42".into())
        );
        assert_eq!(id_value(&data, &["identifiers", "email"]).unwrap(), None);
        assert_eq!(id_value(&data, &["customer_id"]).unwrap(), None);
        assert_eq!(id_value(&data, &["missing"]).unwrap(), None);
        assert!(
            id_value(&data, &["x", "id"])
                .unwrap_err()
                .to_string()
                .contains("data.x.id")
        );
    }
}
