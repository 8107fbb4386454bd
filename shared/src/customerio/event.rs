//! A reporting webhook as an event (docs/rules/customerio.md "The event"):
//! its name and code from `object_type` + `metric`, a uuid derived from
//! `event_id`, the person's ids, and the rest of `data` as attributes.

use serde_json::{Map, Value};

use super::webhook::{Webhook, id_value};
use crate::config::CustomerioConfig;
use crate::domain::ids::derived_uuid;
use crate::domain::{Event, EventSource, EventType};
use crate::error::RequestError;

/// Message-content fields: kept only with `customerio.body_content = true`,
/// then cut to [`MAX_CONTENT_CHARS`] (docs/rules/customerio.md "Message
/// content"). `headers` comes with the same Customer.io option (email
/// headers of "Sent" events), so it follows the same switch.
pub const CONTENT_FIELDS: &[&str] = &["content", "subject", "body", "headers"];
/// The first 1024 characters of message content (Customer.io's Amplitude
/// integration: "Body Content").
pub const MAX_CONTENT_CHARS: usize = 1024;

/// `in_app` → `In App`: each `_`-separated word capitalised, joined by spaces.
pub fn camel(word: &str) -> String {
    word.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first
                .into_iter()
                .chain(chars.map(|c| c.to_ascii_lowercase()))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Email Sent`, `In App Clicked`.
pub fn event_name(object_type: &str, metric: &str) -> String {
    format!("{} {}", camel(object_type), camel(metric))
}

/// `CIO_EMAIL_SENT`, `CIO_IN_APP_CLICKED`.
pub fn event_code(object_type: &str, metric: &str) -> String {
    format!("CIO_{object_type}_{metric}").to_ascii_uppercase()
}

/// A redelivered webhook (same `event_id`) yields the same uuid.
pub fn event_uuid(workspace_id: &str, event_id: &str) -> String {
    derived_uuid(&["customerio", workspace_id, event_id])
}

fn cut_strings(value: &mut Value) {
    match value {
        Value::String(text) if text.chars().count() > MAX_CONTENT_CHARS => {
            *text = text.chars().take(MAX_CONTENT_CHARS).collect();
        }
        Value::Array(items) => items.iter_mut().for_each(cut_strings),
        Value::Object(fields) => fields.values_mut().for_each(cut_strings),
        _ => {}
    }
}

/// The event of one webhook.
pub fn to_event(
    workspace_id: &str,
    settings: &CustomerioConfig,
    webhook: Webhook,
) -> Result<Event, RequestError> {
    let Webhook {
        event_id,
        object_type,
        metric,
        timestamp,
        mut data,
    } = webhook;
    let uid = match id_value(&data, &["identifiers", "id"])? {
        Some(id) => Some(id),
        None => id_value(&data, &["customer_id"])?,
    };
    // `customer` events carry `email_address` instead of `identifiers.email`.
    let email_id = match id_value(&data, &["identifiers", "email"])? {
        Some(email) => Some(email),
        None => id_value(&data, &["email_address"])?,
    };
    // The person's id is the event's uid; the other identifiers stay.
    if let Some(Value::Object(identifiers)) = data.get_mut("identifiers") {
        identifiers.remove("id");
    }
    if data
        .get("identifiers")
        .is_some_and(|i| i.is_null() || i.as_object().is_some_and(Map::is_empty))
    {
        data.remove("identifiers");
    }
    for field in CONTENT_FIELDS {
        match data.get_mut(*field) {
            Some(value) if settings.body_content => cut_strings(value),
            Some(_) => {
                data.remove(*field);
            }
            None => {}
        }
    }
    Ok(Event {
        event_name: event_name(&object_type, &metric),
        event_code: event_code(&object_type, &metric),
        event_uuid: event_uuid(workspace_id, &event_id),
        event_time: timestamp,
        event_type: EventType::CampaignEvent,
        event_source: EventSource::Customerio,
        uid,
        push_id: None,
        email_id,
        mobile_number: None,
        event_attributes: data.into(),
        user_attributes: Default::default(),
        device_attributes: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customerio::webhook::read;
    use serde_json::json;

    /// docs/rules/customerio.md "Names and codes".
    const NAMES: &[(&str, &str, &str, &str)] = &[
        ("email", "sent", "Email Sent", "CIO_EMAIL_SENT"),
        ("email", "opened", "Email Opened", "CIO_EMAIL_OPENED"),
        ("push", "opened", "Push Opened", "CIO_PUSH_OPENED"),
        ("sms", "clicked", "Sms Clicked", "CIO_SMS_CLICKED"),
        ("in_app", "clicked", "In App Clicked", "CIO_IN_APP_CLICKED"),
        ("webhook", "sent", "Webhook Sent", "CIO_WEBHOOK_SENT"),
        (
            "customer",
            "cio_subscription_preferences_changed",
            "Customer Cio Subscription Preferences Changed",
            "CIO_CUSTOMER_CIO_SUBSCRIPTION_PREFERENCES_CHANGED",
        ),
    ];

    #[test]
    fn names_and_codes_follow_the_table() {
        for (object_type, metric, name, code) in NAMES {
            assert_eq!(event_name(object_type, metric), *name);
            assert_eq!(event_code(object_type, metric), *code);
        }
    }

    fn settings(body_content: bool) -> CustomerioConfig {
        CustomerioConfig {
            signing_key: crate::config::Secret::new("k"),
            account_id: None,
            workspace_id: None,
            body_content,
            tolerance_seconds: 300,
        }
    }

    fn event(body: serde_json::Value, body_content: bool) -> Event {
        let webhook = read(body.to_string().as_bytes()).unwrap();
        to_event("ws", &settings(body_content), webhook).unwrap()
    }

    #[test]
    fn ids_and_attributes() {
        let body = json!({"event_id": "01E", "object_type": "sms", "metric": "sent",
            "timestamp": 1669045350,
            "data": {"customer_id": "c-1", "identifiers": {"id": "313803",
                "email": "a@example.com", "cio_id": "d9c1"}, "content": "Hey", "recipient": "+1"}});
        let e = event(body.clone(), false);
        assert_eq!(e.uid.as_deref(), Some("313803"));
        assert_eq!(e.email_id.as_deref(), Some("a@example.com"));
        assert_eq!(e.event_time, 1669045350);
        assert_eq!(e.event_uuid, event_uuid("ws", "01E"));
        assert_eq!(
            Value::Object(e.event_attributes.into_map()),
            json!({"customer_id": "c-1", "recipient": "+1",
                   "identifiers": {"email": "a@example.com", "cio_id": "d9c1"}})
        );
        let with_content = event(body, true);
        assert_eq!(with_content.event_attributes["content"], "Hey");
    }

    #[test]
    fn uid_falls_back_to_customer_id_and_email_to_email_address() {
        let e = event(
            json!({"event_id": "1", "object_type": "customer", "metric": "subscribed",
                "timestamp": 1, "data": {"customer_id": "0200102", "identifiers": {"id": null},
                "email_address": "t@example.com"}}),
            false,
        );
        assert_eq!(e.uid.as_deref(), Some("0200102"));
        assert_eq!(e.email_id.as_deref(), Some("t@example.com"));
        assert!(!e.event_attributes.contains_key("identifiers"));
    }

    #[test]
    fn content_is_cut_to_1024_characters() {
        let long = "é".repeat(2000);
        let e = event(
            json!({"event_id": "1", "object_type": "email", "metric": "sent", "timestamp": 1,
                "data": {"content": long, "headers": {"X": [long]}, "subject": "s"}}),
            true,
        );
        let content = e.event_attributes["content"].as_str().unwrap();
        assert_eq!(content.chars().count(), 1024);
        let header = e.event_attributes["headers"]["X"][0].as_str().unwrap();
        assert_eq!(header.chars().count(), 1024);
        assert_eq!(e.event_attributes["subject"], "s");
    }
}
