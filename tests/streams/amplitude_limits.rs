//! Large commerce events with large profiles, exported to Amplitude: every
//! request stays within Amplitude's documented limits
//! (docs/rules/amplitude-export.md "Amplitude's limits on an event") and
//! nothing is lost.

use std::collections::HashSet;

use engage_bridge_tests::sqlite;
use serde_json::{Map, Value, json};
use shared::domain::Event;

use crate::fixtures::*;

const EVENTS: usize = 24;
const PRODUCTS: usize = 10;

/// A large purchase: 10 products with custom attributes, a 1 500-character
/// text, an object 45 layers deep and a list of lists. The first one also
/// has 1 100 custom attributes (beyond Amplitude's 1 000 keys).
fn large_purchase(i: usize, moengage_user_id: &str) -> Event {
    let products: Vec<Value> = (0..PRODUCTS)
        .map(|p| {
            json!({"id": format!("SKU-{p:05}"), "name": format!("Trail Running Shoe, model {p}"),
                   "brand": "Example Brand", "category": "Shoes > Running > Trail",
                   "variant": "Blue / 42 EU", "position": p, "price": 129.99, "quantity": 1,
                   "coupon_code": "SUMMER-2026", "total_product_amount": 129.99,
                   "custom_attributes": {"material": "recycled mesh", "drop_mm": "8",
                                         "warehouse": format!("WH-{}", p % 7)}})
        })
        .collect();
    let custom = if i == 0 { 1_100 } else { 30 };
    let mut attributes: Map<String, Value> = (0..custom)
        .map(|k| (format!("attribute_{k:04}"), json!(format!("value {k}"))))
        .collect();
    let mut deep = json!("bottom");
    for _ in 0..45 {
        deep = json!({ "layer": deep });
    }
    // Named to sort before the `attribute_…` keys: kept within the 1 000.
    attributes.insert("a_note".into(), json!("é".repeat(1_500)));
    attributes.insert("a_deep".into(), deep);
    attributes.insert("a_sizes".into(), json!([["40", "41"], ["42"]]));
    attributes.insert("transaction_id".into(), json!(format!("T-{i}")));
    attributes.insert("total_amount".into(), json!(2_599.8));
    attributes.insert("products".into(), Value::Array(products));
    serde_json::from_value(json!({
        "event_name": "purchase", "event_code": "purchase",
        "event_uuid": format!("big-{i}"), "event_time": 1_795_341_605,
        "event_type": "USER_ACTION_EVENT", "event_source": "MPARTICLE",
        "uid": "cust-1001", "event_attributes": attributes,
        "user_attributes": {"moengage_user_id": moengage_user_id},
        "device_attributes": {"platform": "iOS", "device_model": "x".repeat(2_000)}
    }))
    .unwrap()
}

/// Every string ≤ 1024 characters, every object ≤ 1000 keys and ≤ 40 layers,
/// no array directly inside an array; returns the object depth.
fn check(value: &Value, path: &str) -> usize {
    match value {
        Value::String(s) => {
            assert!(
                s.chars().count() <= 1024,
                "{path}: {} chars",
                s.chars().count()
            );
            0
        }
        Value::Object(map) => {
            assert!(map.len() <= 1000, "{path}: {} keys", map.len());
            let depth = 1 + map
                .iter()
                .map(|(k, v)| {
                    assert!(k.chars().count() <= 1024, "{path}: a long key");
                    check(v, &format!("{path}.{k}"))
                })
                .max()
                .unwrap_or(0);
            assert!(depth <= 40, "{path}: {depth} layers");
            depth
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                assert!(!v.is_array(), "{path}[{i}]: an array inside an array");
                check(v, &format!("{path}[{i}]"))
            })
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test]
async fn the_largest_commerce_events_stay_within_amplitudes_limits() {
    let b = sqlite();
    let server = amplitude_ok_server().await;
    amplitude_stream(
        &b,
        &server,
        "events = [\"purchase\"]\nuser_attributes = \"all\"",
    )
    .await;
    // A profile with more user attributes than Amplitude keeps (64 KiB, the
    // most a profile holds): each event sent carries 1 000 of them.
    let attributes: Map<String, Value> = (0..1_200)
        .map(|k| (format!("trait_{k:04}"), json!(format!("{k:0>40}"))))
        .collect();
    let mid = profile(&b, "cust-1001", Value::Object(attributes)).await;
    let events: Vec<Event> = (0..EVENTS).map(|i| large_purchase(i, &mid)).collect();
    let messages = shared::domain::EventsMessage::pack("ws", &events)
        .unwrap()
        .len();
    assert!(messages <= 2, "{messages} queue messages");
    dispatch(&b, events).await;

    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.len() > messages,
        "{} requests for {messages} messages: one delivery is split by size",
        requests.len()
    );
    let mut delivered = HashSet::new();
    for request in &requests {
        assert!(
            request.body.len() < 1_000_000,
            "{} bytes",
            request.body.len()
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let events = body["events"].as_array().unwrap();
        assert!(events.len() <= 2_000);
        for event in events {
            assert!(delivered.insert(event["insert_id"].as_str().unwrap().to_owned()));
            check(&event["event_properties"], "event_properties");
            check(&event["user_properties"], "user_properties");
            assert_eq!(event["device_model"].as_str().unwrap().len(), 1024);
            let properties = event["event_properties"].as_object().unwrap();
            assert_eq!(properties["$source"], "MPARTICLE");
            assert_eq!(properties["moengage_user_id"], json!(mid));
            assert_eq!(
                properties["products"].as_array().unwrap().len(),
                PRODUCTS,
                "every product is exported"
            );
            if event["insert_id"] == "big-0" {
                assert_eq!(properties.len(), 1_000);
            }
            for kept in ["transaction_id", "total_amount", "a_note", "a_deep"] {
                assert!(properties.contains_key(kept), "{kept}");
            }
            assert_eq!(
                properties["a_sizes"],
                json!(["[\"40\",\"41\"]", "[\"42\"]"])
            );
            assert_eq!(event["user_properties"].as_object().unwrap().len(), 1_000);
            assert_eq!(event["revenue"], json!(2_599.8));
        }
    }
    let expected: HashSet<String> = (0..EVENTS).map(|i| format!("big-{i}")).collect();
    assert_eq!(delivered, expected, "every event delivered exactly once");
    assert!(take_all(&*b.queues.retry).await.is_empty());
    let dead = shared::streams::dlq::list(&b, &Default::default())
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:?}");
}
