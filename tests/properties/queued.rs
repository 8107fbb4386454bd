//! Events' attributes as text (issue 22, domain/attributes/): a consumer
//! keeps an event's `event_attributes` as the text it was queued as, and
//! mParticle's custom attributes are read straight into the text their map
//! would be written as. Whatever the text, it reads as a map would read it,
//! or it is refused where it is read: never later, in a delivery.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};
use shared::config::StreamConfig;
use shared::domain::EventsMessage;
use shared::domain::attributes::Written;
use shared::streams::enrich::for_webhook;

/// A scalar as JSON text, with what a map refuses and a raw value does not
/// (numbers out of range, lone surrogates) among them.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("-0".to_owned()),
        Just("1.5e3".to_owned()),
        Just("1e400".to_owned()),
        Just("-1E-400".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        Just(r#""\ud800""#.to_owned()),
        Just(r#""x\udc00""#.to_owned()),
        Just(r#""\ud83d\ude00 é \n \"""#.to_owned()),
        "[a-z_é]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ]
}

/// A key: some spell a never-exported attribute, one only by an escape.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]".prop_map(|s| format!("\"{s}\"")),
        Just(r#""email_subject""#.to_owned()),
        Just(r#""é""#.to_owned()),
        Just(r#""email\u005fclick_url""#.to_owned()),
        Just(r#""\u0001""#.to_owned()),
        Just(r#""\udfff""#.to_owned()),
    ]
}

fn space() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t")]
}

fn object(member: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    vec((key(), space(), member), 0..4).prop_map(|members| {
        let members: Vec<String> = members
            .into_iter()
            .map(|(k, s, v)| format!("{s}{k}{s}:{s}{v}{s}"))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

/// A JSON value as text, a few levels deep.
fn shallow() -> impl Strategy<Value = String> {
    scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            object(inner),
        ]
    })
}

/// Any JSON value as text, some nested past the 128 levels a map reads.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => shallow(),
        1 => (124usize..132).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
    ]
}

fn queued_message(attributes: &str) -> String {
    queued_with("event_attributes", attributes)
}

/// A queued message whose one event's `field` is `attributes`.
fn queued_with(field: &str, attributes: &str) -> String {
    let body = json!({"workspace_id": "ws", "events": [{
        "event_name": "Viewed", "event_code": "Viewed", "event_uuid": "e1",
        "event_time": 1_796_142_619, "event_type": "USER_ACTION_EVENT",
        "event_source": "MPARTICLE", field: "ATTRIBUTES"
    }]})
    .to_string();
    body.replace(r#""ATTRIBUTES""#, attributes)
}

/// The names `key()` spells, read.
const NAMES: [&str; 7] = [
    "a",
    "b",
    "c",
    "é",
    "email_subject",
    "email_click_url",
    "\u{1}",
];

fn webhook_stream() -> StreamConfig {
    serde_json::from_value(
        json!({"name": "s", "type": "webhook", "url": "https://example.com/hook"}),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(Config::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn queued_attributes_read_as_a_map_or_not_at_all(text in object(value())) {
        let as_map = serde_json::from_str::<Map<String, Value>>(&text);
        let read = serde_json::from_str::<EventsMessage>(&queued_message(&text));
        prop_assert_eq!(read.is_ok(), as_map.is_ok(), "{}", text);
        if let (Ok(read), Ok(map)) = (read, as_map) {
            let event = &read.events[0];
            // Read later, the text gives the map.
            prop_assert_eq!(&*event.event_attributes, &map);
            // Written again, and sent to a webhook, it is the map's JSON.
            let written = serde_json::to_value(event).unwrap();
            prop_assert_eq!(&written["event_attributes"], &Value::Object(map.clone()));
            let mut from_map = event.clone();
            from_map.event_attributes = map.into();
            let stream = webhook_stream();
            // As a value: the text nests deeper than a reader of the whole
            // body would go (streams/enrich.rs tests the exact bytes).
            prop_assert!(serde_json::to_string(&for_webhook(event, None, &stream)).is_ok());
            let sent = serde_json::to_value(for_webhook(event, None, &stream)).unwrap();
            let expected = serde_json::to_value(for_webhook(&from_map, None, &stream)).unwrap();
            prop_assert_eq!(sent, expected);
        }
    }

    #[test]
    fn sent_attributes_are_written_as_their_map(text in object(value())) {
        let as_map = serde_json::from_str::<Map<String, Value>>(&text);
        let written = serde_json::from_str::<Written>(&text);
        prop_assert_eq!(written.is_ok(), as_map.is_ok(), "{}", text);
        if let (Ok(Written(attributes)), Ok(map)) = (written, as_map) {
            // Queued, the map was this text (serde_json reads a long number
            // back as a neighbouring float: so did the map once queued).
            let queued = serde_json::to_string(&map).unwrap();
            let text = attributes.text().map(|t| t.get().to_owned());
            prop_assert_eq!(text, Some(queued.clone()));
            let read_back: Map<String, Value> = serde_json::from_str(&queued).unwrap();
            // Their names' length limits, checked on the length counted
            // when written, find what the map's names would.
            for max in [0, 1, 5, 13] {
                let long = attributes.name_longer_than(max).is_some();
                prop_assert_eq!(long, read_back.keys().any(|k| k.len() > max), "{}", max);
            }
            prop_assert_eq!(&*attributes, &read_back);
        }
    }

    #[test]
    fn a_queued_string_is_read_as_the_maps(
        text in prop_oneof![object(value()), object(scalar())]
    ) {
        let as_map = serde_json::from_str::<Map<String, Value>>(&text);
        let read = serde_json::from_str::<EventsMessage>(&queued_with("user_attributes", &text));
        prop_assert_eq!(read.is_ok(), as_map.is_ok(), "{}", text);
        if let (Ok(read), Ok(map)) = (read, as_map) {
            // Read from the text first: each name's string is the map's
            // (the last of a repeated name, none for another kind).
            let user = &read.events[0].user_attributes;
            for name in NAMES {
                prop_assert_eq!(
                    user.get_str(name),
                    map.get(name).and_then(Value::as_str),
                    "{} in {}", name, text
                );
            }
            prop_assert_eq!(&**user, &map);
        }
    }
}
